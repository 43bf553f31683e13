import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cutoverHelper } from './ops.ts';

const RUN = '20261203-000000-abcd';
const sets = [{ name: 'pdfs', volume: 'app_pdfs', live: '/srv/app/pdf files' }];

describe('the cutover helper: the delta and parity in a standby container, or a throwaway one when it is gone', () => {
  const root = mkdtempSync(join(tmpdir(), 'standby-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const h = cutoverHelper('helper:img', RUN, sets);
  /** Run a planned command's argv (sudo left out) with a docker CLI stand-in that records its argv. */
  const runWith = (running: boolean, argv: string[]) => {
    const bin = join(root, `bin-${running}`);
    mkdirSync(bin, { recursive: true });
    const log = join(bin, 'log');
    writeFileSync(log, '');
    writeFileSync(join(bin, 'docker'), `#!/bin/sh
for a; do printf '[%s]' "$a" >> ${log}; done; echo >> ${log}
[ "$1" = inspect ] && { ${running ? 'echo true' : 'echo "Error: No such object" >&2; exit 1'}; }
exit 0
`, { mode: 0o755 });
    const r = spawnSync(argv[0], argv.slice(1), { env: { PATH: `${bin}:/usr/bin:/bin` } });
    return { status: r.status, calls: readFileSync(log, 'utf8').trim().split('\n') };
  };

  it('the standby is one idle container with every mount, labelled for settle to remove at once', () => {
    const argv = h.start.argv.join(' ');
    expect(h.start.sudo).toBe(true);
    expect(argv).toMatch(/^docker run -d --pull never --network none --user 0 --name cutover-20261203-000000-abcd-cutover /);
    expect(argv).toContain('--label io.cutover.role=standby');
    expect(h.start.argv).toEqual(expect.arrayContaining(['app_pdfs:/vol/pdfs', '/srv/app/pdf files:/live/pdfs:ro', `/var/lib/cutover/backups/${RUN}:/backup:ro`]));
    expect(h.remove.argv).toEqual(['docker', 'rm', '-f', 'cutover-20261203-000000-abcd-cutover']);
  });

  it('runs the agent by docker exec in the standby while it runs', () => {
    const r = runWith(true, h.delta('10001:10001').argv);
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([
      '[inspect][-f][{{.State.Running}}][cutover-20261203-000000-abcd-cutover]',
      '[exec][cutover-20261203-000000-abcd-cutover][python3][/agent.pyz][delta-all][/backup/manifest.json][10001:10001][pdfs=/live/pdfs=/vol/pdfs]',
    ]);
  });

  it('runs it in a throwaway helper with the same mounts once the standby is gone (a lost session\'s settle removed it)', () => {
    const r = runWith(false, h.parity().argv);
    expect(r.status).toBe(0);
    expect(r.calls[1]).toBe(`[run][--rm][--pull][never][--network][none][--user][0][--name][cutover-${RUN}-parity][--label][io.cutover.run=${RUN}]`
      + `[--label][io.cutover.role=helper][-v][/var/lib/cutover/agent.pyz:/agent.pyz:ro][-v][app_pdfs:/vol/pdfs][-v][/srv/app/pdf files:/live/pdfs:ro]`
      + `[-v][/var/lib/cutover/backups/${RUN}:/backup:ro][helper:img][python3][/agent.pyz][parity-all][/backup/manifest.json][/backup/restored][pdfs=/live/pdfs=/vol/pdfs]`);
    expect(r.calls).toHaveLength(2);
  });
});
