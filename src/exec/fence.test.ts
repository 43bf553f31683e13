import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Session } from './fence.ts';

/** The fence on this machine's own processes: it writes /run/cutover/RUN, so it needs root (CI is). */
const canWriteRun = (() => {
  try {
    mkdirSync('/run/cutover', { recursive: true });
    accessSync('/run/cutover', constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();

const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

describe.skipIf(!canWriteRun)('fence: a lost session cannot go on', () => {
  const runId = `20990101-000000-${process.pid}`;
  afterEach(() => rmSync(`/run/cutover/${runId}`, { force: true }));

  it('stops the process tree an older session left, not the new session, and names what it stopped', async () => {
    const old = new Session(runId);
    // the old session's last command: a shell with a child, as a `docker run` under sudo would be
    const child = spawn('sh', ['-c', old.wrap('sh -c "sleep 300 & wait"')], { stdio: 'ignore', detached: true });
    await new Promise((r) => setTimeout(r, 300));
    const kids = execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    expect(kids.length).toBeGreaterThan(0);

    const fresh = new Session(runId);
    const [cmd, ...args] = fresh.fenceArgv();
    const out = execFileSync(cmd, args, { encoding: 'utf8' });
    const report = JSON.parse(out) as { stopped: string[]; left: number[] };
    expect(report.left).toEqual([]);
    expect(report.stopped.join('\n')).toMatch(/sleep 300/);
    await new Promise((r) => setTimeout(r, 200));
    for (const pid of [child.pid!, ...kids]) expect(alive(pid), `pid ${pid} survived the fence`).toBe(false);

    // the old session may not start anything any more; the new one may
    const refused = spawnSync('sh', ['-c', old.wrap('echo ran')], { encoding: 'utf8' });
    expect(refused.status).toBe(111);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/a newer session settled run/);
    const allowed = spawnSync('sh', ['-c', fresh.wrap('echo ran')], { encoding: 'utf8' });
    expect(allowed.status).toBe(0);
    expect(allowed.stdout).toBe('ran\n');
  });

  it('a run nobody fenced runs every session; another run is never touched', async () => {
    const other = new Session(`${runId}9`);
    const bystander = spawn('sh', ['-c', other.wrap('sleep 300')], { stdio: 'ignore', detached: true });
    await new Promise((r) => setTimeout(r, 200));
    try {
      expect(spawnSync('sh', ['-c', new Session(runId).wrap('true')]).status).toBe(0);
      const [cmd, ...args] = new Session(runId).fenceArgv();
      expect(JSON.parse(execFileSync(cmd, args, { encoding: 'utf8' })).stopped).toEqual([]);
      expect(alive(bystander.pid!)).toBe(true);
    } finally {
      process.kill(-bystander.pid!, 'SIGKILL');
    }
  });
});
