import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { shJoin } from '../../src/util/quote.ts';
import { chmSpec } from '../support/chm-spec.ts';
import { hostFingerprint } from '../support/fingerprint.ts';
import { ROOT, labSsh, viaHost } from '../support/lab.ts';
import { labReset } from '../support/reset.ts';
import { killHard, runIdOf, runbook, runbookAsync, stepBegan, whenJournal } from '../support/run.ts';
import { busyWriter, idsInContainer, sleep } from '../support/writer.ts';

// Hosts configured the way real ones often are, not the way our lab writes its files: a supervisor
// program file that relies on supervisord's defaults and holds a second program, a write that lands
// on bare metal after the final delta, two cleanups on one day, secrets with every awkward byte.
// Each result is read on the host itself (files, sockets, process lists), not from the tool's report.

const CONF = '/etc/supervisor/conf.d/chatbot-backend.conf';
const reset = () => {
  const r = labReset();
  expect(r.code, r.out).toBe(0);
};
/** 0 when something accepts connections on 127.0.0.1:PORT. */
const listening = (port: number) =>
  spawnSync('curl', ['-s', '-m', '3', '-o', '/dev/null', `http://127.0.0.1:${port}/`]).status === 0;
const sh = (script: string) => labSsh(script).trim();
const re = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Wait (up to 20 s) until `probe` holds: a reboot's services take a moment to come up. */
const eventually = (probe: () => boolean) => {
  for (let i = 0; i < 80 && !probe(); i++) execFileSync('sleep', ['0.25']);
  return probe();
};

describe('real hosts: every runbook keeps the promise on files and habits our lab does not have', () => {
  let original: Record<string, string>;
  beforeAll(() => {
    reset();
    original = hostFingerprint();
  });
  // Every test starts from the pre-migration host: reset only when an earlier one left it otherwise.
  beforeEach(() => {
    if (JSON.stringify(hostFingerprint()) !== JSON.stringify(original)) reset();
  });

  it('a supervisor program file with its defaults and a second program, secrets with every awkward byte, an app written 10 times a second for the whole run: every acknowledged write is in the containers; after a reboot the bare-metal backend stays off and the neighbour runs; the secrets reach the container byte for byte and appear nowhere else; the rollback puts the file back byte for byte', async () => {
    // supervisord's defaults are autostart=true and autorestart=unexpected: most hand-written files omit both lines.
    sh(
      `sudo sh -c 'grep -v "^autostart\\|^autorestart" ${CONF} > /tmp/cb.conf && printf "\\n[program:lab-neighbour]\\ncommand=/bin/sleep 100000\\n" >> /tmp/cb.conf && cat /tmp/cb.conf > ${CONF} && supervisorctl update >/dev/null'`,
    );
    expect(sh(`grep -c '^autostart' ${CONF} || true`)).toBe('0');
    const before = sh(`sudo sha256sum ${CONF}`);
    expect(eventually(() => /RUNNING/.test(sh('sudo supervisorctl status lab-neighbour || true')))).toBe(true);

    // Secrets with $, quotes, #, backslashes, newlines (a PEM key): compose must read them literally.
    const secrets = {
      CUTOVER_T_DOLLAR: 'pa$$word-$HOME-${PATH}-`id`-$(id)',
      CUTOVER_T_QUOTES: `it's "quoted" #not-a-comment ; & | < > \\back\\slash\\ =eq=`,
      CUTOVER_T_PEM:
        '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\r\n  indented line\t tab\n-----END OPENSSH PRIVATE KEY-----\n',
      CUTOVER_T_UNICODE: 'ünïcödé 🔑 \u200bzero-width',
    };
    // A plain env value with $: compose must not read it as a variable (it would put in the host's $HOME, or nothing).
    const plain = 'p$ss ${HOME} $$x end';
    const cfg = chmSpec(
      { services: { backend: { secrets: Object.keys(secrets), env: { CUTOVER_T_PLAIN: plain } } } },
      'secrets.yaml',
    );
    const writer = busyWriter();
    await sleep(2000); // busy before the run starts
    const r = await runbookAsync('migrate-chm', ['--yes', '--json', '--config', cfg], secrets).done;
    await sleep(2000); // and after it ends
    const { acked, bare, containers } = await writer.stop();
    expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0);
    const runId = runIdOf(r);
    expect(bare).toBeGreaterThan(20);
    expect(containers).toBeGreaterThan(5);
    const ids = idsInContainer();
    const lost = acked.filter((id) => !ids.has(id));
    expect(lost, `acknowledged but not in the containers: ${lost.slice(0, 5).join(', ')}`).toEqual([]);
    expect(readFileSync(resolve(ROOT, 'backups', runId, 'report.md'), 'utf8')).toMatch(
      /## Snapshots of the live databases \(backup\.snapshot\)\n- chroma \(the live ChromaDB\): \d+ copy pass/,
    );
    expect(execFileSync('docker', ['exec', 'chatbot-backend', 'printenv', 'CUTOVER_T_PLAIN']).toString('utf8')).toBe(
      `${plain}\n`,
    );
    for (const [k, v] of Object.entries(secrets)) {
      // printenv prints the value and one newline: the bytes must be exactly the value's
      expect(execFileSync('docker', ['exec', 'chatbot-backend', 'printenv', k]).toString('utf8'), k).toBe(`${v}\n`);
      const needle = v.split('\n')[0];
      expect(r.stdout + r.stderr).not.toContain(needle);
      const grep = spawnSync('grep', ['-rlF', '-e', needle, resolve(ROOT, 'backups', runId)], { encoding: 'utf8' });
      expect(grep.status, `secret found in: ${grep.stdout}${grep.stderr}`).toBe(1);
      const hostGrep = spawnSync(
        'ssh',
        [
          '-F',
          resolve(ROOT, '.lab/ssh/config'),
          'chm-lab',
          shJoin(['sudo', 'grep', '-rlF', '-e', needle, '/var/lib/cutover']),
        ],
        { encoding: 'utf8' },
      );
      expect(hostGrep.status, `secret found on the host in: ${hostGrep.stdout}`).toBe(1);
    }
    // A reboot, as far as the bare-metal managers go: supervisord re-reads every file and starts what
    // autostarts; pm2 resurrects its saved dump.
    sh('sudo supervisorctl reload >/dev/null; pm2 kill >/dev/null 2>&1; pm2 resurrect >/dev/null 2>&1 || true');
    expect(eventually(() => /RUNNING/.test(sh('sudo supervisorctl status lab-neighbour || true')))).toBe(true);
    execFileSync('sleep', ['3']); // startsecs=2: a backend that autostarted would be up by now
    expect(sh('sudo supervisorctl status chatbot-backend || true')).toMatch(/STOPPED/);
    expect(listening(8000)).toBe(false);
    expect(listening(3000)).toBe(false);

    // The rollback reads the same env file compose does: it must not trip on it either.
    const rb = runbook('migrate-chm', ['--rollback', runId]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(sh(`sudo sha256sum ${CONF}`)).toBe(before);
    expect(eventually(() => listening(8000) && listening(3000))).toBe(true);
    expect(sh('pm2 jlist')).toContain('"name":"chatbot-frontend"');
  });

  /** CHM staged up to STEP, then FILE written into bare metal's pdfs by a writer the spec does not list, then resumed. */
  const lateWrite = (step: string, file: string, text: string) => {
    const staged = runbook('migrate-chm', ['--yes', '--to', step]);
    expect(staged.code, staged.stderr).toBe(0);
    const runId = runIdOf(staged);
    sh(`printf '${text}' > /home/ubuntu/chm-chatbot/pdfs/${file}`);
    return { runId, resumed: runbook('migrate-chm', ['--yes', '--resume', runId]) };
  };

  it('a write that lands on bare metal after the final delta: parity refuses the cutover, and the rollback leaves bare metal exactly as it is, late write included', () => {
    // A cron job, as the app's account, while the writer is stopped and the gate still closed.
    const { resumed } = lateWrite('cutover.delta', 'late-cron.pdf', 'written by cron after the delta');
    expect(resumed.code, resumed.stdout).toBe(1);
    expect(resumed.stderr).toMatch(/step cutover\.start failed: .*late-cron\.pdf.*rolled back/s);
    expect(sh('cat /home/ubuntu/chm-chatbot/pdfs/late-cron.pdf')).toBe('written by cron after the delta');
    expect(sh('ls -d /home/ubuntu/chm-chatbot/*.pre-rollback-* 2>/dev/null || true')).toBe('');
    // The gate never opened: nothing of the containers' was anyone's data. Without the late write, the
    // host is exactly as before the run: bare metal serving, no volume, no container, no file of ours.
    sh('rm /home/ubuntu/chm-chatbot/pdfs/late-cron.pdf');
    expect(hostFingerprint()).toEqual(original);
  });

  it('a write that lands on bare metal after the final parity: once the gate is open the cutover is refused naming it; the rollback copies the containers back and keeps the late write beside them', () => {
    // parity held; now a writer the spec does not list writes, before the gate opens
    const { runId, resumed } = lateWrite('cutover.start', 'late-after-parity.pdf', 'written by cron after parity');
    expect(resumed.code, resumed.stdout).toBe(1);
    expect(resumed.stderr).toMatch(
      /step cutover\.open failed: bare metal changed after its writers stopped: \/home\/ubuntu\/chm-chatbot\/pdfs.*rolled back/s,
    );
    // the containers' data is back in place, the late write kept beside it, nothing of either lost
    expect(sh(`cat /home/ubuntu/chm-chatbot/pdfs.pre-rollback-${runId}/late-after-parity.pdf`)).toBe(
      'written by cron after parity',
    );
    expect(sh('test -e /home/ubuntu/chm-chatbot/pdfs/late-after-parity.pdf && echo there || echo absent')).toBe(
      'absent',
    );
    expect(sh('sudo supervisorctl status chatbot-backend')).toMatch(/RUNNING/);
    // as the operator would once they merged the late write: the kept dirs and volumes removed, the host as before
    sh(`rm -rf /home/ubuntu/chm-chatbot/*.pre-rollback-${runId}
      docker volume rm chatbot_chroma chatbot_pdfs chatbot_transcripts >/dev/null && sudo rm -f /var/lib/cutover/kept-volumes/chatbot_*`);
    expect(hostFingerprint()).toEqual(original);
  });

  it("two runbooks racing for one host: exactly one wins; every other runbook is refused with the winner's own next command", async () => {
    const racers = [
      runbookAsync('migrate-chm', ['--yes', '--to', 'backup.prepare']),
      runbookAsync('cleanup-chm', ['--yes']),
      runbookAsync('migrate-chm', ['--yes', '--to', 'backup.prepare']),
    ];
    const results = await Promise.all(racers.map((r) => r.done));
    const won = results.filter((r) => r.code === 0);
    expect(won, results.map((r) => r.stderr).join('\n')).toHaveLength(1);
    const runId = runIdOf(won[0]);
    for (const lost of results.filter((r) => r !== won[0])) {
      expect(lost.code).toBe(2);
      // cleanup-chm lost to migrate-chm, or before its own preflight: either way one line, and a lock
      // message names migrate-chm's commands, never the refused runbook's.
      if (/host is locked/.test(lost.stderr)) {
        expect(lost.stderr.trim().split('\n')).toHaveLength(1);
        expect(lost.stderr).toContain(`\`npx tsx runbooks/migrate-chm.ts --rollback ${runId}\``);
      }
    }
    // The winner stopped after its first stage and keeps the host: pg.ts and verify-stack wait too.
    expect(sh('sudo cat /var/lib/cutover/lock/owner.json')).toContain(`"runId":"${runId}"`);
    for (const [name, args] of [
      ['pg', ['backup', '--yes']],
      ['verify-stack', ['--config', 'runbooks/stacks/dimini.yaml']],
    ] as const) {
      const r = runbook(name, [...args]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`host is locked by run ${runId} of migrate-chm .*--rollback ${runId}`));
    }
    const rb = runbook('migrate-chm', ['--rollback', runId]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(sh('sudo test -e /var/lib/cutover/lock && echo held || echo free')).toBe('free');
    expect(hostFingerprint()).toEqual(original); // no racer left anything behind
  });

  it("the operator's machine dies mid-cutover: another checkout is refused naming the first until it takes the run over, then resumes it from the host's journal; once it finished, a third rolls it back", async () => {
    const { child, result } = runbookAsync('migrate-chm', ['--yes']);
    await whenJournal(result, stepBegan('deploy.build'));
    await killHard(child);
    const elsewhere = (name: string) => mkdtempSync(join(tmpdir(), `${name}-`));
    const runId = runIdOf(result);
    const list = runbook('migrate-chm', ['--runs', '--backups-dir', elsewhere('list')]);
    expect(list.stdout).toMatch(new RegExp(`${runId}  migrate-chm  .*\\(holds the lock\\)`));

    const second = elsewhere('second');
    // The run is the first checkout's: another one is refused, naming it, until the operator says that one is down.
    const refused = runbook('migrate-chm', ['--yes', '--resume', runId, '--backups-dir', second]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `run ${runId} is held by \\S+:${re(ROOT)}/backups \\(operator .*\\): it may still be running there\\. .*--take-over`,
      ),
    );
    const resumed = runbook('migrate-chm', ['--yes', '--resume', runId, '--backups-dir', second, '--take-over']);
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    expect(resumed.stdout).toMatch(/took over run \S+ from /);
    expect(readFileSync(join(second, runId, 'journal.jsonl'), 'utf8')).toMatch(/"type":"run-done"/);
    const served = await viaHost('chatbot.chmedia.com', '/api/health');
    expect(served.status).toBe(200);
    expect(listening(8000)).toBe(false);

    // The finished run released the lock: any checkout may roll it back later, no take-over needed.
    expect(sh('sudo test -e /var/lib/cutover/lock && echo held || echo free')).toBe('free');
    const rb = runbook('migrate-chm', ['--rollback', runId, '--backups-dir', elsewhere('third')]);
    expect(rb.code, rb.stderr).toBe(0);
    const now = hostFingerprint();
    expect({ ...now, volumes: '' }).toEqual({ ...original, volumes: '' }); // the volumes are kept: the public could write
    expect(now.volumes.split('\n').filter((v) => v.startsWith('chatbot_'))).toEqual([
      'chatbot_chroma',
      'chatbot_pdfs',
      'chatbot_transcripts',
    ]);
    // once satisfied, the operator removes them (the command the rollback printed): the host is as before the run
    sh(
      'docker volume rm chatbot_chroma chatbot_pdfs chatbot_transcripts >/dev/null && sudo rm -f /var/lib/cutover/kept-volumes/chatbot_*',
    );
    expect(hostFingerprint()).toEqual(original);
  });

  it("a connection cut in the middle of a command: the lost session's command is stopped before any undo, so nothing it makes outlives the rollback", async () => {
    const run = runbookAsync('migrate-chm', ['--yes']);
    await whenJournal(run.result, stepBegan('deploy.build'));
    await new Promise((r) => setTimeout(r, 300)); // the image build is under way on the host
    execFileSync('pkill', ['-9', '-f', '^sshd: ubuntu']);
    const r = await run.done;
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/step deploy\.build failed: lost the connection .*; rolled back \d+ actions/);
    const runId = runIdOf(r);
    execFileSync('sleep', ['10']); // longer than the build would have taken had it gone on
    expect(
      execFileSync('docker', ['image', 'ls', '-q', `chm-chatbot-backend:${runId}`])
        .toString()
        .trim(),
    ).toBe('');
    expect(
      execFileSync('docker', ['image', 'ls', '-q', `chm-chatbot-frontend:${runId}`])
        .toString()
        .trim(),
    ).toBe('');
    expect(
      execFileSync('docker', ['ps', '-aq', '--filter', `label=io.cutover.run=${runId}`])
        .toString()
        .trim(),
    ).toBe('');
    expect(hostFingerprint()).toEqual(original);
  });
});
