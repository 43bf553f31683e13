import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RemoteCommand } from './command.ts';
import { HOST_STATE, HOST_STATE_SH, makeDir, writeFile } from './files.ts';

/** HOST_STATE_SH with HOST_STATE moved under a temp dir (the real one is this machine's, when it is the lab). */
const sh = (root: string, then = '') =>
  spawnSync('sh', ['-c', `set -e\n${HOST_STATE_SH.replaceAll(HOST_STATE, root)}\n${then}`], { encoding: 'utf8' });
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe("HOST_STATE: root's only", () => {
  it("is made 0700, a looser one is tightened, and what the same shell makes next is root's only", () => {
    const t = mkdtempSync(join(tmpdir(), 'hoststate-'));
    const root = join(t, 'cutover');
    expect(sh(root, `mkdir -p ${root}/backups/r1; : > ${root}/backups/r1/chroma.tar`).status).toBe(0);
    const modes = [mode(root), mode(`${root}/backups/r1`), mode(`${root}/backups/r1/chroma.tar`)];
    expect(modes).toEqual(['700', '700', '600']);
    spawnSync('chmod', ['755', root]);
    expect(sh(root).status).toBe(0);
    expect(mode(root)).toBe('700');
  });

  it('refuses a symlink in its place, in one line with the fix', () => {
    const t = mkdtempSync(join(tmpdir(), 'hoststate-'));
    mkdirSync(join(t, 'elsewhere'));
    symlinkSync(join(t, 'elsewhere'), join(t, 'cutover'));
    const r = sh(join(t, 'cutover'));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `refusing: ${t}/cutover is a symlink (to ${t}/elsewhere); cutover keeps its backups there,` +
        ` root's only: put a real directory there (move the link's target to ${t}/cutover), then run again\n`,
    );
    expect(mode(join(t, 'elsewhere'))).not.toBe('700');
  });
});

describe('makeDir and writeFile: plans whose host side never follows a link (src/engine/nofollow.py)', () => {
  const run = '20261122-000000-abcd';
  it('makeDir makes the dir and its marker through nofollow, and undoes through it', () => {
    const a = makeDir('/home/ubuntu/chm-deploy', run, 'ubuntu:ubuntu');
    const marker = `/var/lib/cutover/runs/${run}/created/home%2Fubuntu%2Fchm-deploy`;
    const cmd = a.cmd as RemoteCommand;
    expect([cmd.sudo, cmd.argv[0], cmd.argv[1], ...cmd.argv.slice(3)]).toEqual([
      true,
      'python3',
      '-c',
      'mkdir',
      '/home/ubuntu/chm-deploy',
      'ubuntu:ubuntu',
      marker,
    ]);
    expect((a.undo![0] as RemoteCommand).argv.slice(3)).toEqual(['rmdir', '/home/ubuntu/chm-deploy', marker]);
    const programs = [a.cmd, ...a.undo!].map((c) => (c as RemoteCommand).argv[0]);
    expect(programs).toEqual(['python3', 'python3']); // no sh, no chown
  });

  it('writeFile keeps the old file (or link) and puts it back through nofollow; the write is an upload', () => {
    const opts = { mode: '600', owner: 'ubuntu:ubuntu' };
    const [keep, write] = writeFile('/home/ubuntu/chm-deploy/secrets.env', 'K=v\n', run, opts);
    const kept = `/var/lib/cutover/runs/${run}/kept/home%2Fubuntu%2Fchm-deploy%2Fsecrets.env`;
    expect((keep.cmd as RemoteCommand).argv.slice(3)).toEqual(['keep', '/home/ubuntu/chm-deploy/secrets.env', kept]);
    expect((keep.undo![0] as RemoteCommand).argv.slice(3)).toEqual([
      'restore',
      '/home/ubuntu/chm-deploy/secrets.env',
      kept,
    ]);
    expect(write.cmd).toMatchObject({ kind: 'upload', mode: '600', owner: 'ubuntu:ubuntu', sudo: true });
    const programs = [keep.cmd, ...keep.undo!].map((c) => (c as RemoteCommand).argv[0]);
    expect(programs).toEqual(['python3', 'python3']); // no cp -a
  });
});
