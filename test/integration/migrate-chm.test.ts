import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Journal, replay } from '../../src/engine/journal.ts';
import { loadConfig } from '../../src/engine/config.ts';
import { specSchema } from '../../src/migrate/spec.ts';
import { specSteps } from '../../src/migrate/steps.ts';
import { KEEP_PREFIX, chmSpec } from '../support/chm-spec.ts';
import { hostFingerprint } from '../support/fingerprint.ts';
import { ROOT, containerLimits, getJson, ingest, labSsh, publishedPorts, viaHost } from '../support/lab.ts';
import { labReset } from '../support/reset.ts';
import { actionLines, killHard, runIdOf, runbook, startRunbook } from '../support/run.ts';

const tmp = mkdtempSync(join(tmpdir(), 'chm-'));
const config = chmSpec;
async function viaNginx(path: string, host = 'chatbot.chmedia.com'): Promise<any> {
  const r = await viaHost(host, path);
  if (r.status !== 200) throw new Error(`${host}${path}: HTTP ${r.status}`);
  return JSON.parse(r.body);
}
const mediahubIds = () =>
  execFileSync('docker', ['ps', '-q', '--filter', 'label=com.docker.compose.project=mediahub'])
    .toString()
    .trim()
    .split('\n')
    .sort()
    .map((id) => execFileSync('docker', ['inspect', '-f', '{{.Id}} {{.State.StartedAt}}', id]).toString().trim());
/**
 * Every step that changes something (a check-only step, e.g. verify.parity, adds no undo: failing
 * after it undoes exactly what failing after the step before it does).
 */
const LAB = loadConfig(resolve(ROOT, 'runbooks/specs/chm.yaml'), specSchema);
const PLAN_FACTS = {
  dataBytes: { chroma: 1, pdfs: 1, transcripts: 1 },
  hostFree: 1,
  neighbours: {},
  ports: '',
  volumes: {},
  images: [],
};
const PLANS = specSteps(LAB).map((s) => ({
  id: s.id,
  actions: s.plan({ config: LAB, facts: PLAN_FACTS, runId: 'r', runDir: '/tmp/r' }),
}));
const MUTATING = PLANS.filter((p) => p.actions.some((a) => !a.cmd.reads)).map((p) => p.id);
/**
 * --fail-at each step that carries an undo of its own, up to cutover.open (the first that lets the
 * public write). A step whose changes have none adds nothing to a rollback: the backups are never
 * undone, data copied into a volume goes with the volume (volumes.restore, cutover.delta), so failing
 * after it undoes exactly what failing after the step before it does (the plan says so: undoneBy). The
 * steps after cutover.open (stop-frontend, disable) add undos that every rollback of a complete run
 * replays: the kill -9 test's --rollback of its finished run checks them against the same fingerprint.
 */
const FAIL_AT = PLANS.slice(0, PLANS.findIndex((p) => p.id === 'cutover.open') + 1)
  .filter((p) => p.actions.some((a) => a.undo?.length))
  .map((p) => p.id);

/** The printed command an operator runs once satisfied: the volumes a rollback kept, and their records, removed. */
function removeKeptVolumes(original: Record<string, string>) {
  labSsh(
    'docker volume rm chatbot_chroma chatbot_pdfs chatbot_transcripts >/dev/null && sudo rm -f /var/lib/cutover/kept-volumes/chatbot_*',
  );
  expect(hostFingerprint()).toEqual(original);
}

function reset() {
  const r = labReset();
  expect(r.code, r.out).toBe(0);
}

/** The host is as before the run, except the data volumes a rollback kept on purpose. */
function expectRestoredKeepingVolumes(original: Record<string, string>) {
  const now = hostFingerprint();
  const lines = (t: string) => t.split('\n').filter(Boolean).sort();
  expect(lines(now.volumes)).toEqual(
    [...lines(original.volumes), 'chatbot_chroma', 'chatbot_pdfs', 'chatbot_transcripts'].sort(),
  );
  expect({ ...now, volumes: '' }).toEqual({ ...original, volumes: '' });
}

async function killWhen(args: string[], stepId: string): Promise<string> {
  const child = startRunbook('migrate-chm', args);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  await new Promise<void>((res, rej) => {
    const t0 = Date.now();
    const tick = setInterval(() => {
      const m = /journal (\S+journal\.jsonl)/.exec(out);
      if (m && replay(Journal.read(m[1])).steps.find((s) => s.id === stepId)?.actions.length) {
        clearInterval(tick);
        res();
      }
      if (Date.now() - t0 > 300_000) {
        clearInterval(tick);
        rej(new Error(`never reached ${stepId}:\n${out}`));
      }
    }, 10);
  });
  await killHard(child);
  return runIdOf({ code: 0, stdout: out, stderr: '', events: [] });
}

describe("migrate-chm on the lab (CHM's spec on the generic path)", () => {
  let original: Record<string, string>;
  beforeAll(() => {
    reset();
    original = hostFingerprint();
  });
  beforeEach(() => {
    // An earlier failure may have left a migrated host: every test starts from the pre-migration state.
    if (JSON.stringify(hostFingerprint()) !== JSON.stringify(original)) reset();
  });

  it('full run: dry run equals the real run; writes after the backup survive; containers serve with parity; bare metal stopped and disabled; MediaHub untouched; a second run does nothing', async () => {
    const mediahubBefore = mediahubIds();
    const dry = runbook('migrate-chm', ['--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(hostFingerprint()).toEqual(original);

    // Stage 1: backup, volumes, deploy, verify — then stop, as an operator would before the night.
    const first = runbook('migrate-chm', ['--json', '--yes', '--to', 'verify.parity']);
    expect(first.code, first.stderr).toBe(0);
    const runId = runIdOf(first);
    expect(existsSync(resolve(ROOT, 'backups', runId, 'chroma.tar'))).toBe(true);
    const manifest = JSON.parse(readFileSync(resolve(ROOT, 'backups', runId, 'manifest.json'), 'utf8'));
    expect(Object.keys(manifest.archives)).toEqual(['chroma', 'pdfs', 'transcripts']);
    expect(readFileSync(resolve(ROOT, 'backups', runId, 'mediahub.sql'), 'utf8')).toMatch(/CREATE TABLE public\.items/);
    // the local backups are the operator's alone: every file 0600, every dir 0700 (stat, not our own words)
    const modes = execFileSync('find', [resolve(ROOT, 'backups', runId), '-printf', '%y %m %P\\n'], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    expect(
      modes.filter((l) => !/^(f 600|d 700) /.test(l)),
      modes.join('\n'),
    ).toEqual([]);
    expect(modes).toEqual(
      expect.arrayContaining(['f 600 chroma.tar', 'f 600 mediahub.sql', 'f 600 manifest.json', 'f 600 journal.jsonl']),
    );

    // The new front door is up but its gate is closed: the public cannot write to the containers
    // (the final delta would overwrite it); MediaHub is served; this run's checks pass the gate.
    const gated = await viaHost('chatbot.chmedia.com', '/api/ingest', {
      method: 'POST',
      body: JSON.stringify({ collection: 'faq', document: 'must not land in the containers' }),
    });
    expect(gated.status).toBe(503);
    expect((await viaHost('chatbot.chmedia.com', '/')).status).toBe(503);
    expect((await viaHost('mediahub.chmedia.com', '/api/items')).status).toBe(200);
    expect(
      (await viaHost('chatbot.chmedia.com', '/api/health', { headers: { 'X-Cutover-Verify': runId } })).status,
    ).toBe(200);

    // Writes land on bare metal after the backup and before the cutover.
    const w = await ingest('written after the backup, before cutover');
    labSsh("printf 'late transcript' > /home/ubuntu/chm-chatbot/transcripts/late.txt");
    const finalBareMetal = await getJson('http://127.0.0.1:8000/api/stats');

    const second = runbook('migrate-chm', ['--json', '--yes', '--resume', runId]);
    expect(second.code, second.stderr + second.stdout).toBe(0);
    // --json: stdout holds only JSON lines, whatever the run printed (dry run, stop as asked, resume)
    for (const out of [dry.stdout, first.stdout, second.stdout])
      for (const l of out.trim().split('\n')) expect(() => JSON.parse(l), l).not.toThrow();
    expect([...actionLines(first), ...actionLines(second)]).toEqual(actionLines(dry));

    const served = await viaNginx('/api/stats');
    expect(served.digest).toBe(finalBareMetal.digest);
    expect(served.collections).toEqual(finalBareMetal.collections);
    expect(served.collections.faq).toBe(w.count);
    expect(execFileSync('docker', ['exec', 'chatbot-backend', 'cat', '/data/transcripts/late.txt']).toString()).toBe(
      'late transcript',
    );
    expect((await viaNginx('/api/health')).status).toBe('ok');
    expect((await viaHost('chatbot.chmedia.com', '/')).body).toContain('CHM Chatbot');
    expect((await viaNginx('/api/items', 'mediahub.chmedia.com')).items.length).toBeGreaterThan(0);
    expect(execFileSync('docker', ['exec', 'chatbot-backend', 'id', '-u']).toString().trim()).toBe('10001');
    // the spec's limits, rotated logs and the default restart policy, as docker runs them; http only, on :80
    const log = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } };
    expect(containerLimits('chatbot-backend')).toEqual({ memoryMiB: 1024, cpus: 1, log, restart: 'unless-stopped' });
    expect(containerLimits('chatbot-frontend')).toEqual({ memoryMiB: 512, cpus: 0.5, log, restart: 'unless-stopped' });
    expect(containerLimits('nginx-proxy')).toEqual({ memoryMiB: 128, cpus: 0.5, log, restart: 'unless-stopped' });
    expect(Object.keys(publishedPorts('nginx-proxy'))).toEqual(['80/tcp']);

    await expect(fetch('http://127.0.0.1:8000/health')).rejects.toThrow();
    await expect(fetch('http://127.0.0.1:3000/health')).rejects.toThrow();
    expect(labSsh('sudo supervisorctl status chatbot-backend || true')).toMatch(/STOPPED/);
    expect(labSsh('grep ^autostart /etc/supervisor/conf.d/chatbot-backend.conf')).toMatch(/autostart=false/);
    expect(labSsh('cat /home/ubuntu/.pm2/dump.pm2')).not.toContain('chatbot-frontend');
    expect(mediahubIds()).toEqual(mediahubBefore);

    const report = readFileSync(resolve(ROOT, 'backups', runId, 'report.md'), 'utf8');
    expect(report).toMatch(/Write freeze[\s\S]*\*\*\d+\.\d+ s\*\*/);
    expect(report).toContain(manifest.archives.chroma.sha256);

    const again = runbook('migrate-chm', ['--yes']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already runs in containers .*\nnothing to do: no changes made/);

    // The containers take a public write; the rollback copies it back: bare metal is back with
    // everything written anywhere (before the cutover on bare metal, after it in the containers).
    const res = await viaHost('chatbot.chmedia.com', '/api/ingest', {
      method: 'POST',
      body: JSON.stringify({ collection: 'faq', document: 'written to the containers after cutover' }),
    });
    expect(res.status).toBe(200);
    const inContainers = await viaNginx('/api/stats');
    expect(inContainers.collections.faq).toBe(w.count + 1);
    const rb = runbook('migrate-chm', ['--rollback', runId]);
    expect(rb.code, rb.stderr).toBe(0);
    const back = await getJson('http://127.0.0.1:8000/api/stats');
    expect(back.digest).toBe(inContainers.digest);
    expect(back.collections.faq).toBe(w.count + 1);
    expect(labSsh('ls -d /home/ubuntu/chm-chatbot/chroma_db.pre-rollback-*')).toContain(runId);
    reset();
  });

  // From cutover.open on the public writes to the containers: a rollback keeps the volumes (they may hold
  // the only copy of its writes) and names them; everything else is as before the run.
  const TAKES_WRITES = MUTATING.slice(MUTATING.indexOf('cutover.open'));
  it.each(FAIL_AT)(
    '--fail-at %s: rollback restores the host fingerprint (keeping the volumes once the containers took writes)',
    (step) => {
      const r = runbook('migrate-chm', ['--yes', '--fail-at', step]);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`step ${step.replace('.', '\\.')} failed: failure injected .*; rolled back \\d+ actions`),
      );
      if (TAKES_WRITES.includes(step)) {
        expect(r.stderr).toMatch(/kept on purpose: chatbot_chroma, chatbot_pdfs, chatbot_transcripts/);
        expect(r.stdout).toMatch(/docker volume rm chatbot_chroma chatbot_pdfs chatbot_transcripts/);
        expectRestoredKeepingVolumes(original);
        removeKeptVolumes(original); // as the operator would, once satisfied: the next test starts from the same host, no reset
      } else expect(hostFingerprint()).toEqual(original);
    },
  );

  it("kill -9 during backup.stream, and again during the resumed run's volumes.restore: the next --resume completes verified, then --rollback restores; apiPrefix keep: /api/x reaches the backend as /api/x", async () => {
    // the lab backend serves every route both at the root and under /api/, so keep works here too
    const keep = ['--config', config(KEEP_PREFIX, 'keep.yaml')];
    const runId = await killWhen(['--yes', ...keep], 'backup.stream');
    expect(await killWhen(['--yes', ...keep, '--resume', runId], 'volumes.restore')).toBe(runId);
    const resumed = runbook('migrate-chm', ['--yes', ...keep, '--resume', runId]);
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    for (const path of ['/api/health', '/api/stats']) {
      const h = await viaHost('chatbot.chmedia.com', path);
      expect([h.status, h.headers['x-backend-path']]).toEqual([200, path]);
    }
    const report = readFileSync(resolve(ROOT, 'backups', runId, 'report.md'), 'utf8');
    expect(report).toContain('http://chatbot.chmedia.com/ and http://chatbot.chmedia.com/api/health');
    expect(report).toMatch(/- TLS: not set up \(no `nginx\.tls` in the spec\)/);
    const manifest = JSON.parse(readFileSync(resolve(ROOT, 'backups', runId, 'manifest.json'), 'utf8'));
    for (const n of ['chroma', 'pdfs', 'transcripts']) {
      const sha = execFileSync('sha256sum', [resolve(ROOT, 'backups', runId, `${n}.tar`)])
        .toString()
        .split(' ')[0];
      expect(sha).toBe(manifest.archives[n].sha256);
    }
    expect(original.data).toContain((await viaNginx('/api/stats')).digest);
    const rb = runbook('migrate-chm', ['--rollback', runId, ...keep]);
    expect(rb.code, rb.stderr).toBe(0);
    expectRestoredKeepingVolumes(original); // the containers were the writer: their volumes are kept
    removeKeptVolumes(original);
  });

  it('bad input: one line naming the problem and the fix, nothing changed', () => {
    // One error line naming the problem and the fix; when several preflight checks fail, each gets
    // its own line above it (the disk case: host and local disk both too small).
    const runDirs = () => (existsSync(resolve(ROOT, 'backups')) ? readdirSync(resolve(ROOT, 'backups')).sort() : []);
    const dirsBefore = runDirs();
    const oneLine = (args: string[], re: RegExp, checks = 1) => {
      const r = runbook('migrate-chm', args);
      expect(r.code, r.stdout).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(checks === 1 ? 1 : checks + 2);
      expect(lines.at(-1)).toMatch(/^migrate-chm: error: /);
      expect(lines.at(-1)).toMatch(re);
    };
    oneLine(['--config', config({ ssh: { port: 2999 } }, 'unreach.yaml')], /cannot reach 127\.0\.0\.1:2999/);
    const wrongKey = join(tmp, 'wrongkey');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]);
    oneLine(['--config', config({ ssh: { key: wrongKey } }, 'wk.yaml')], /ssh key .* was refused/);
    writeFileSync(join(tmp, 'kh'), '');
    oneLine(
      ['--config', config({ ssh: { knownHosts: join(tmp, 'kh') } }, 'kh.yaml')],
      /host key of 127\.0\.0\.1:2222 is not in/,
    );
    oneLine(
      ['--config', config({ diskMargin: 10 ** 15 }, 'disk.yaml')],
      /not enough disk on the host: .* free under \/var\/lib\/cutover, the migration needs .*lower `diskMargin`/,
      2,
    );
    oneLine(
      ['--config', config({ data: { pdfs: { path: '/home/ubuntu/chm-chatbot/no-such-dir' } } }, 'src.yaml')],
      /`data\.pdfs\.path`: \/home\/ubuntu\/chm-chatbot\/no-such-dir is not a directory on the host: fix the path/,
    );
    oneLine(
      ['--config', config({ nginx: { bind: '127.0.0.1', port: 'eighty' } }, 'yaml.yaml')],
      /field `nginx\.port`: .*example: port: 80/,
    );

    labSsh('docker volume create chatbot_chroma >/dev/null');
    oneLine(['--yes'], /a volume named chatbot_chroma already exists and was not made by this run/);
    labSsh('docker volume rm chatbot_chroma >/dev/null');

    const squatter = spawn('python3', ['-m', 'http.server', '80', '--bind', '127.0.0.1'], { stdio: 'ignore' });
    try {
      execFileSync('sh', [
        '-c',
        'for i in $(seq 50); do ss -ltn "sport = :80" | grep -q LISTEN && exit 0; sleep 0.1; done; exit 1',
      ]);
      oneLine(['--yes'], /port 80 is taken by python3? .*stop .* or set `nginx\.port`/);
    } finally {
      squatter.kill();
    }
    expect(hostFingerprint()).toEqual(original);
    // a refused run leaves no backups/<run>/ behind
    expect(runDirs()).toEqual(dirsBefore);
  });
});
