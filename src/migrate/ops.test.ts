import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentPath, cutoverHelper, standbyDir, stopContainer } from './ops.ts';

const RUN = '20261203-000000-abcd';
const sets = [{ name: 'pdfs', volume: 'app_pdfs', live: '/srv/app/pdf files' }];

describe('the cutover helper: the delta and parity asked of the agent serving in a standby container, else by docker exec, else in a throwaway one', () => {
  const root = mkdtempSync(join(tmpdir(), 'standby-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const h = cutoverHelper('helper:img', RUN, sets);
  /** Run a planned command's argv (sudo left out) with a docker CLI stand-in that records its argv. */
  const runWith = (running: boolean, argv: string[], path = '') => {
    const bin = join(root, `bin-${running}`);
    mkdirSync(bin, { recursive: true });
    const log = join(bin, 'log');
    writeFileSync(log, '');
    // No agent serves the socket here (it does not exist): ask says so with 75, as the real one would.
    writeFileSync(
      join(bin, 'python3'),
      `#!/bin/sh
[ "$2" = ask ] && [ ! -S "$3" ] && exit 75
exec /usr/bin/python3 "$@"
`,
      { mode: 0o755 },
    );
    writeFileSync(
      join(bin, 'docker'),
      `#!/bin/sh
for a; do printf '[%s]' "$a" >> ${log}; done; echo >> ${log}
[ "$1" = inspect ] && { ${running ? 'echo true' : 'echo "Error: No such object" >&2; exit 1'}; }
exit 0
`,
      { mode: 0o755 },
    );
    const r = spawnSync(argv[0], argv.slice(1), { env: { PATH: `${path}${bin}:/usr/bin:/bin` }, encoding: 'utf8' });
    return {
      status: r.status,
      out: r.stdout,
      err: r.stderr,
      calls: readFileSync(log, 'utf8').trim().split('\n').filter(Boolean),
    };
  };

  it('the standby is one container of the agent serving a socket in a root-only dir, with every mount, labelled for settle to remove at once', () => {
    const argv = h.start.argv.join(' ');
    expect(h.start.sudo).toBe(true);
    expect(argv).toContain(
      `exec docker run -d "$@" sh ${standbyDir(RUN)} --pull never --network none --user 0 --name cutover-20261203-000000-abcd-cutover `,
    );
    expect(argv).toContain('--label io.cutover.role=standby');
    expect(h.start.argv).toEqual(
      expect.arrayContaining([
        'app_pdfs:/vol/pdfs',
        '/srv/app/pdf files:/live/pdfs:ro',
        `/var/lib/cutover/backups/${RUN}:/backup:ro`,
        `${standbyDir(RUN)}:/ctl`,
      ]),
    );
    expect(h.start.argv.slice(-5)).toEqual([
      'python3',
      '/agent.pyz',
      'serve',
      '/ctl/agent.sock',
      '/backup/manifest.json',
    ]);
    // the dir is made 0700 (umask 077) with its parent, then docker runs
    const r = runWith(
      true,
      h.start.argv.map((a) => a.replace('/run/cutover-standby', join(root, 'run'))),
    );
    expect(r.status).toBe(0);
    expect(
      spawnSync('stat', ['-c', '%a', join(root, 'run'), join(root, 'run', RUN)], { encoding: 'utf8' })
        .stdout.split('\n')
        .slice(0, 2),
    ).toEqual(['700', '700']);
    expect(r.calls[0]).toMatch(/^\[run\]\[-d\]\[--pull\]/);
    expect(h.remove.argv.slice(-2)).toEqual(['cutover-20261203-000000-abcd-cutover', standbyDir(RUN)]);
  });

  it('asks the agent serving in the standby: its output and exit code, no docker at all', () => {
    const sock = join(root, 'agent.sock');
    const agentDir = join(__dirname, '..', 'agent');
    const server = spawn('/usr/bin/python3', [agentDir, 'serve', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) spawnSync('sleep', ['0.05']);
      const argv = h
        .parity()
        .argv.map((a) => (a === agentPath(RUN) ? agentDir : a === `${standbyDir(RUN)}/agent.sock` ? sock : a));
      const r = runWith(true, argv);
      // the command ran in the serving agent: /backup/manifest.json is not here, so it fails as the agent says
      expect(r.status).toBe(1);
      expect(r.err).toMatch(/^parity-all: \/backup\/manifest.json does not exist/);
      expect(r.calls).toEqual([]);
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('runs the agent by docker exec in the standby while it runs', () => {
    const r = runWith(true, h.delta('10001:10001').argv);
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([
      '[inspect][-f][{{.State.Running}}][cutover-20261203-000000-abcd-cutover]',
      '[exec][cutover-20261203-000000-abcd-cutover][python3][/agent.pyz][delta-all][/backup/manifest.json][10001:10001][pdfs=/live/pdfs=/vol/pdfs]',
    ]);
  });

  it("runs it in a throwaway helper with the same mounts once the standby is gone (a lost session's settle removed it)", () => {
    const r = runWith(false, h.parity().argv);
    expect(r.status).toBe(0);
    expect(r.calls[1]).toBe(
      `[run][--rm][--pull][never][--network][none][--user][0][--name][cutover-${RUN}-parity][--label][io.cutover.run=${RUN}]` +
        `[--label][io.cutover.role=helper][-v][/var/lib/cutover/runs/${RUN}/agent.pyz:/agent.pyz:ro][-v][app_pdfs:/vol/pdfs][-v][/srv/app/pdf files:/live/pdfs:ro]` +
        `[-v][/var/lib/cutover/backups/${RUN}:/backup:ro][helper:img][python3][/agent.pyz][parity-all][/backup/manifest.json][/backup/restored][pdfs=/live/pdfs=/vol/pdfs]`,
    );
    expect(r.calls).toHaveLength(2);
  });
});

describe('stopping a container is read back', () => {
  const root = mkdtempSync(join(tmpdir(), 'stop-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  /** Run stopContainer's argv with a docker stand-in: `docker stop` exits STOP; inspect says RUNNING (none: no such container). */
  const stopWith = (stop: number, running: 'true' | 'false' | 'none') => {
    writeFileSync(
      join(root, 'docker'),
      `#!/bin/sh
case "$1" in
  stop) [ ${stop} = 0 ] || echo "Error response from daemon: cannot stop" >&2; exit ${stop} ;;
  inspect) [ ${running} = none ] && { echo "Error: No such object" >&2; exit 1; }; echo ${running} ;;
esac
`,
      { mode: 0o755 },
    );
    const argv = stopContainer('app-web').argv;
    const r = spawnSync(argv[0], argv.slice(1), { env: { PATH: `${root}:/usr/bin:/bin` }, encoding: 'utf8' });
    return { status: r.status, err: r.stderr.trim() };
  };
  it('done when it no longer runs, or is gone; an error naming the fix when it still runs, whatever docker stop said', () => {
    expect(stopWith(0, 'false').status).toBe(0);
    expect(stopWith(1, 'none').status).toBe(0);
    expect(stopWith(0, 'true')).toEqual({
      status: 1,
      err: 'container app-web still runs after docker stop: stop it (docker kill app-web), then run again',
    });
    const failed = stopWith(1, 'true');
    expect(failed.status).toBe(1);
    expect(failed.err).toMatch(/cannot stop\ncontainer app-web still runs/);
  });
});
