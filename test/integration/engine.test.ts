import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { Journal, replay } from '../../src/engine/journal.ts';
import { hostFingerprint } from '../support/fingerprint.ts';
import { ROOT, labSsh } from '../support/lab.ts';
import { labReset } from '../support/reset.ts';
import { actionLines, killHard, runIdOf, runbook, startRunbook } from '../support/run.ts';

const tmp = mkdtempSync(join(tmpdir(), 'engine-'));
/** A copy of the lab config with some fields replaced. */
function config(over: Record<string, unknown>, name = 'demo.yaml'): string {
  const base = parse(readFileSync(resolve(ROOT, 'runbooks/demo.lab.yaml'), 'utf8'));
  const merged = { ...base, ...over, ssh: { ...base.ssh, ...((over.ssh as object) ?? {}) } };
  const p = join(tmp, name);
  writeFileSync(p, stringify(merged));
  return p;
}
const STEPS = ['write-file', 'volume', 'container', 'settle'];

describe('the runbook engine on the lab (demo runbook)', () => {
  let original: Record<string, string>;
  beforeAll(() => {
    const r = labReset();
    expect(r.code, r.out).toBe(0);
    original = hostFingerprint();
  });

  it('a dry run changes nothing, and prints exactly the commands the real run executes, in order', () => {
    const dry = runbook('demo', ['--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(hostFingerprint()).toEqual(original);
    const real = runbook('demo', ['--json']);
    expect(real.code, real.stderr).toBe(0);
    expect(actionLines(dry).length).toBeGreaterThan(5);
    expect(actionLines(real)).toEqual(actionLines(dry));
    expect(labSsh('cat /home/ubuntu/cutover-demo/hello.txt')).toContain(runIdOf(real));
    expect(labSsh('docker inspect -f "{{.State.Running}}" cutover-demo').trim()).toBe('true');
    const rb = runbook('demo', ['--rollback', runIdOf(real)]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(hostFingerprint()).toEqual(original);
  });

  it('--plan executes a saved plan with the same run id, and refuses a stale one', () => {
    const planFile = join(tmp, 'plan.json');
    const dry = runbook('demo', ['--dry-run', '--out', planFile]);
    expect(dry.code, dry.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(planFile, 'utf8'));
    expect(saved.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    // The host changes after the plan was made: a container of that name appears.
    labSsh('docker run -d --pull never --name cutover-demo --label io.cutover.test=1 nginx:alpine');
    const stale = runbook('demo', ['--plan', planFile]);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toMatch(/host changed since plan .* was made .*make a new plan/);
    labSsh('docker rm -f cutover-demo');
    expect(hostFingerprint()).toEqual(original);
    const ok = runbook('demo', ['--plan', planFile, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(runIdOf(ok)).toBe(saved.runId);
    expect(actionLines(ok).map((l) => l)).toEqual(
      saved.steps.flatMap((s: any) => s.actions.map((a: any) => a.cmd.replace(/\d{8}-\d{6}-[a-z0-9]{4}/g, '<run-id>'))),
    );
    expect(runbook('demo', ['--rollback', saved.runId]).code).toBe(0);
    expect(hostFingerprint()).toEqual(original);
  });

  it.each(STEPS)('--fail-at %s rolls back to the original fingerprint', (step) => {
    const r = runbook('demo', ['--fail-at', step]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`step ${step} failed: failure injected by --fail-at ${step}; rolled back \\d+ actions`),
    );
    expect(hostFingerprint()).toEqual(original);
  });

  it('kill -9 mid-run: the lock refuses a second run; --resume completes; --rollback restores', async () => {
    const slow = config({ settleSeconds: 30 }, 'slow.yaml');
    const child = startRunbook('demo', ['--config', slow]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // Wait until the run is inside the slow step, then kill it without warning.
    const journalPath = await new Promise<string>((res, rej) => {
      const t0 = Date.now();
      const tick = setInterval(() => {
        const m = /journal (\S+journal\.jsonl)/.exec(out);
        if (m) {
          const st = replay(Journal.read(m[1]));
          if (st.steps.find((s) => s.id === 'settle')?.actions.length) {
            clearInterval(tick);
            res(m[1]);
          }
        }
        if (Date.now() - t0 > 60_000) {
          clearInterval(tick);
          rej(new Error(`never reached settle:\n${out}`));
        }
      }, 100);
    });
    await killHard(child);
    const runId = runIdOf({ code: 0, stdout: out, stderr: '', events: [] });
    expect(journalPath).toContain(runId);

    const second = runbook('demo', ['--dry-run']);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(
      new RegExp(`host is locked by run ${runId} .*--rollback ${runId}.*sudo rm -rf /var/lib/cutover/lock`),
    );

    const resumed = runbook('demo', ['--config', config({ settleSeconds: 0 }, 'fast.yaml'), '--resume', runId]);
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    expect(resumed.stdout).toMatch(/skip.*done in the earlier attempt|finished/);
    expect(labSsh('docker inspect -f "{{.State.Running}}" cutover-demo').trim()).toBe('true');
    expect(labSsh('sudo -n ls /var/lib/cutover/lock 2>/dev/null || echo free').trim()).toBe('free');

    const rb = runbook('demo', ['--rollback', runId]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(hostFingerprint()).toEqual(original);
  });

  it('refuses a changed host key and an unknown one, each in one line, changing nothing', () => {
    const wrong = runbook('demo', [
      '--config',
      config({ ssh: { knownHosts: '.lab/ssh/known_hosts.wrong' } }, 'wrong.yaml'),
    ]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(/HOST KEY CHANGED for 127\.0\.0\.1:2222/);
    const kh = join(tmp, 'empty_known_hosts');
    writeFileSync(kh, '');
    const unknownCfg = config({ ssh: { knownHosts: kh } }, 'unknown.yaml');
    const unknown = runbook('demo', ['--config', unknownCfg, '--dry-run']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/is not in .*--accept-new-host-key/);
    const accepted = runbook('demo', ['--config', unknownCfg, '--dry-run', '--accept-new-host-key']);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(readFileSync(kh, 'utf8')).toMatch(/^\[127\.0\.0\.1\]:2222 ssh-ed25519 /);
    expect(hostFingerprint()).toEqual(original);
  });

  it('bad input gets one line naming the problem and the fix', () => {
    const badPort = runbook('demo', ['--config', config({ ssh: { port: 'twenty-two' } }, 'bad.yaml'), '--dry-run']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/field `ssh\.port`: .*\(example: port: 22\)/);
    const badYaml = join(tmp, 'broken.yaml');
    writeFileSync(badYaml, 'ssh: [unclosed\n');
    expect(runbook('demo', ['--config', badYaml]).stderr).toMatch(/not valid YAML at line/);
    expect(runbook('demo', ['--only', 'nope', '--dry-run']).stderr).toMatch(
      /--only nope: no such step \(steps: write-file/,
    );
    expect(runbook('demo', ['--interactive']).stderr).toMatch(/--interactive needs a terminal/);
    const unreachable = runbook('demo', ['--config', config({ ssh: { port: 2999 } }, 'unreach.yaml')]);
    expect(unreachable.stderr).toMatch(/cannot reach 127\.0\.0\.1:2999 \(connection refused\)/);
    const wrongKey = join(tmp, 'wrongkey');
    labSsh('true');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]);
    const denied = runbook('demo', ['--config', config({ ssh: { key: wrongKey } }, 'wk.yaml')]);
    expect(denied.stderr).toMatch(/ssh key .*wrongkey was refused by ubuntu@127\.0\.0\.1:2222/);
    for (const r of [badPort, unreachable, denied]) expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(hostFingerprint()).toEqual(original);
  });
});
