import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STILL, stillSince } from './still.ts';

/** The watch's script, run on this machine as the host runs it (root, GNU find). */
const watch = (marker: string, ...dirs: string[]) =>
  spawnSync('sh', ['-c', STILL, 'sh', marker, ...dirs], { encoding: 'utf8' });
const pause = () => execFileSync('sleep', ['0.02']);

describe('bare metal still after its writers stopped', () => {
  it('passes on untouched trees; names a write, a new file, a removal, a chmod and a relinked symlink made after the marker', () => {
    const root = mkdtempSync(join(tmpdir(), 'still-'));
    const a = join(root, 'a');
    const b = join(root, 'b b');
    mkdirSync(join(a, 'sub'), { recursive: true });
    mkdirSync(b);
    writeFileSync(join(a, 'sub', 'x'), 'x');
    writeFileSync(join(b, 'y'), 'y');
    symlinkSync('/etc/hostname', join(b, 'link'));
    pause();
    const marker = join(root, 'marker');
    writeFileSync(marker, '');
    pause();
    expect(watch(marker, a, b).status).toBe(0);
    const changes: [string, () => void][] = [
      ['sub/x', () => writeFileSync(join(a, 'sub', 'x'), 'late')],
      ['new', () => writeFileSync(join(b, 'new'), 'n')],
      ['removed', () => rmSync(join(b, 'y'))],
      ['chmod', () => chmodSync(join(a, 'sub', 'x'), 0o600)],
      ['relink', () => (rmSync(join(b, 'link')), symlinkSync('/etc/passwd', join(b, 'link')))],
    ];
    for (const [what, change] of changes) {
      writeFileSync(marker, ''); // a fresh marker: only this change is after it
      pause();
      expect(watch(marker, a, b).status, what).toBe(0);
      change();
      const r = watch(marker, a, b);
      expect(r.status, what).toBe(1);
      expect(r.stderr, what).toMatch(new RegExp(`^bare metal changed after its writers stopped: ${root}/`));
    }
  });

  it('a missing marker is a failure, never a pass; the command names every dir, read-only', () => {
    const r = watch('/nonexistent/marker', tmpdir());
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the marker \/nonexistent\/marker is missing/);
    const c = stillSince('20261207-000000-abcd', ['/srv/a', '/srv/b']);
    expect(c.reads).toBe(true);
    expect(c.kind === 'remote' && c.argv.slice(-3)).toEqual([
      '/var/lib/cutover/runs/20261207-000000-abcd/bare-metal-still-since',
      '/srv/a',
      '/srv/b',
    ]);
  });
});
