import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nofollow, type NofollowOp } from './nofollow.ts';

/** The helper runs as root on the host; here too, so owners can be set (the unit tests run as root, like the lab). */
const asRoot = process.getuid?.() === 0;
const APP = 1001; // the app's account in these tests (a uid, so no user needs to exist)
const WHO = spawnSync('id', ['-nu', String(APP)], { encoding: 'utf8' }).stdout.trim() || `uid ${APP}`;
const run = (op: NofollowOp, input = '') => {
  const [cmd, ...args] = nofollow(...op);
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const put = (path: string, content: string, mode = '644', owner = '') =>
  run(['put', path, mode, owner, String(Buffer.byteLength(content))], content);
const mode = (p: string) => (lstatSync(p).mode & 0o7777).toString(8);
/** A file only root may write, elsewhere: what a planted link would make root overwrite. */
function rootFile(dir: string, name = 'root-owned'): { path: string; bytes: Buffer; st: string } {
  const path = join(dir, name);
  writeFileSync(path, `root's own ${name}\n`, { mode: 0o640 });
  const s = statSync(path);
  return { path, bytes: readFileSync(path), st: `${s.mode} ${s.uid} ${s.gid} ${s.mtimeMs}` };
}
const unchanged = (f: ReturnType<typeof rootFile>) => {
  const s = statSync(f.path);
  expect(readFileSync(f.path).equals(f.bytes)).toBe(true);
  expect(`${s.mode} ${s.uid} ${s.gid} ${s.mtimeMs}`).toBe(f.st);
};
/** A link as the app would plant it: owned by the app's account. */
function plant(target: string, at: string): void {
  symlinkSync(target, at);
  if (asRoot) lchownSync(at, APP, APP);
}

describe.skipIf(!asRoot)('nofollow put: root writes a file, never through a link', () => {
  const t = mkdtempSync(join(tmpdir(), 'nofollow-'));

  it('writes the content with its mode and owner; makes missing parent dirs', () => {
    const p = join(t, 'new/deep/secrets.env');
    expect(put(p, 'KEY=1\n', '600', `${APP}:${APP}`)).toMatchObject({ code: 0, err: '' });
    expect(readFileSync(p, 'utf8')).toBe('KEY=1\n');
    expect(mode(p)).toBe('600');
    expect([statSync(p).uid, statSync(p).gid]).toEqual([APP, APP]);
    expect(readdirSync(join(t, 'new/deep'))).toEqual(['secrets.env']); // no temp file left
  });

  it('replaces a link planted at the target instead of following it: the linked file is unchanged', () => {
    const target = rootFile(t);
    const p = join(t, 'compose.yaml');
    plant(target.path, p);
    expect(put(p, 'services: {}\n', '644', `${APP}:${APP}`).code).toBe(0);
    unchanged(target);
    expect(lstatSync(p).isFile()).toBe(true);
    expect(readFileSync(p, 'utf8')).toBe('services: {}\n');
  });

  it('refuses, in one line naming the link and the fix, a directory on the way that is a link the app made', () => {
    const elsewhere = join(t, 'elsewhere');
    mkdirSync(elsewhere);
    const target = rootFile(elsewhere, 'Dockerfile');
    plant(elsewhere, join(t, 'frontend'));
    const r = put(join(t, 'frontend/Dockerfile'), 'FROM x\n');
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `refusing ${t}/frontend/Dockerfile: ${t}/frontend is a symlink owned by ${WHO}, and root never` +
        ' writes through a link another account controls: replace the link with a real directory, or set the config' +
        ' to its target\n',
    );
    unchanged(target);
    expect(readdirSync(elsewhere)).toEqual(['Dockerfile']);
  });

  it("follows a link root made (the admin's layout)", () => {
    mkdirSync(join(t, 'real'));
    symlinkSync(join(t, 'real'), join(t, 'admin-link'));
    expect(put(join(t, 'admin-link/f'), 'x').code).toBe(0);
    expect(readFileSync(join(t, 'real/f'), 'utf8')).toBe('x');
  });

  it('has its final mode and owner from birth, under an unpredictable name, before any byte arrives', async () => {
    const dir = join(t, 'birth');
    mkdirSync(dir);
    const [cmd, ...args] = nofollow('put', join(dir, 'secrets.env'), '600', `${APP}:${APP}`, '6');
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    child.stdin.write('KEY=');
    let temp: string[] = [];
    for (let i = 0; i < 200 && temp.length === 0; i++) {
      temp = readdirSync(dir);
      if (!temp.length) await new Promise((r) => setTimeout(r, 10));
    }
    expect(temp).toHaveLength(1);
    expect(temp[0]).toMatch(/^\.secrets\.env\.cutover-[0-9a-f]{16}$/);
    const born = lstatSync(join(dir, temp[0]));
    expect([(born.mode & 0o777).toString(8), born.uid, born.gid]).toEqual(['600', APP, APP]);
    child.stdin.end('1\n');
    expect(await new Promise((r) => child.on('close', r))).toBe(0);
    expect(readdirSync(dir)).toEqual(['secrets.env']);
    expect(mode(join(dir, 'secrets.env'))).toBe('600');
  });

  it('an upload cut short never takes the name, and leaves no temp file', () => {
    const dir = join(t, 'short');
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), 'old');
    const r = run(['put', join(dir, 'f'), '644', '', '10'], 'half');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\/f: got 4 bytes of 10, the upload was cut short: nothing was written, run again$/m);
    expect(readFileSync(join(dir, 'f'), 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['f']);
  });

  it('refuses to replace a directory, and names bad input', () => {
    mkdirSync(join(t, 'isdir'));
    expect(put(join(t, 'isdir'), 'x').err).toMatch(/isdir: it is a directory: move it away, then run again\n$/);
    expect(put('relative/path', 'x').err).toMatch(/^refusing relative\/path: not an absolute path/);
    expect(put(join(t, 'f2'), 'x', '644', 'no-such-user-here').err).toMatch(
      /owner no-such-user-here: no such user or group on the host: fix the owner in the config/,
    );
    expect(run(['bogus' as 'put', '', '', '', ''])).toMatchObject({ code: 1 });
  });
});

describe.skipIf(!asRoot)('nofollow keep and restore: what a rollback puts back', () => {
  const t = mkdtempSync(join(tmpdir(), 'nofollow-kr-'));
  const state = join(t, 'state');
  mkdirSync(state, { mode: 0o700 });

  it('a file comes back with its bytes, mode, owner and mtime', () => {
    const p = join(t, '.env');
    writeFileSync(p, 'OLD=1\n', { mode: 0o640 });
    chmodSync(p, 0o640);
    lchownSync(p, APP, APP);
    utimesSync(p, 1_700_000_000, 1_700_000_000);
    const kept = join(state, 'kept/env');
    expect(run(['keep', p, kept]).code).toBe(0);
    expect(mode(join(state, 'kept'))).toBe('700');
    expect(put(p, 'NEW=1\n').code).toBe(0);
    expect(run(['keep', p, kept]).code).toBe(0); // a second keep (a resumed run) keeps the first copy
    expect(run(['restore', p, kept]).code).toBe(0);
    const s = statSync(p);
    expect([readFileSync(p, 'utf8'), mode(p), s.uid, s.gid, s.mtimeMs]).toEqual([
      'OLD=1\n',
      '640',
      APP,
      APP,
      1_700_000_000_000,
    ]);
  });

  it('a planted link comes back as the link (even a dangling one), and its target is never touched', () => {
    const target = rootFile(t);
    for (const [name, to] of [
      ['Dockerfile', target.path],
      ['dangling', join(t, 'nowhere')],
    ]) {
      const p = join(t, name);
      plant(to, p);
      const kept = join(state, `kept/${name}`);
      expect(run(['keep', p, kept]).code).toBe(0);
      expect(put(p, 'FROM x\n').code).toBe(0);
      expect(run(['restore', p, kept]).code).toBe(0);
      expect(readlinkSync(p)).toBe(to);
      expect(lstatSync(p).uid).toBe(APP);
    }
    unchanged(target);
  });

  it('a file that was not there is removed; a link put at its place since is removed, not followed', () => {
    const target = rootFile(t, 'root-owned-2');
    const p = join(t, 'new-file');
    const kept = join(state, 'kept/new-file');
    expect(run(['keep', p, kept]).code).toBe(0);
    expect(existsSync(`${kept}.none`)).toBe(true);
    plant(target.path, p);
    expect(run(['restore', p, kept]).code).toBe(0);
    expect(existsSync(p) || existsSync(`${p}`)).toBe(false);
    expect(() => lstatSync(p)).toThrow();
    unchanged(target);
  });

  it('keeps nothing through a link on the way: refused before anything is written', () => {
    const elsewhere = join(t, 'elsewhere');
    mkdirSync(elsewhere);
    plant(elsewhere, join(t, 'deploy'));
    const r = run(['keep', join(t, 'deploy/compose.yaml'), join(state, 'kept/x')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`deploy is a symlink owned by ${WHO}, and root never writes through a link`);
  });
});

describe.skipIf(!asRoot)('nofollow mkdir and rmdir: a dir this run makes, removed only if it holds no files', () => {
  const t = mkdtempSync(join(tmpdir(), 'nofollow-d-'));
  const marker = (n: string) => join(t, `state/created/${n}`);

  it('makes it, owned by the app, and records that this run made it', () => {
    const r = run(['mkdir', join(t, 'deploy'), `${APP}:${APP}`, marker('deploy')]);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect([statSync(join(t, 'deploy')).uid, existsSync(marker('deploy'))]).toEqual([APP, true]);
    expect(mode(join(t, 'state/created'))).toBe('700');
  });

  it('an existing dir is owned, not marked: its undo never removes it', () => {
    mkdirSync(join(t, 'there'));
    expect(run(['mkdir', join(t, 'there'), `${APP}:${APP}`, marker('there')]).code).toBe(0);
    expect([statSync(join(t, 'there')).uid, existsSync(marker('there'))]).toEqual([APP, false]);
    expect(run(['rmdir', join(t, 'there'), marker('there')]).code).toBe(0);
    expect(existsSync(join(t, 'there'))).toBe(true);
  });

  it('refuses a path that is a symlink, in one line, and chowns nothing through it', () => {
    const target = join(t, 'root-dir');
    mkdirSync(target);
    plant(target, join(t, 'linked'));
    const r = run(['mkdir', join(t, 'linked'), `${APP}:${APP}`, marker('linked')]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `refusing ${t}/linked: it is a symlink (to ${target}); cutover makes and owns this directory` +
        ' itself: remove the link, or set the config to a real directory\n',
    );
    expect([statSync(target).uid, existsSync(marker('linked'))]).toEqual([0, false]);
  });

  it('removes it when it holds only dirs; keeps it, and says so, when it holds a file not made by this run', () => {
    expect(run(['mkdir', join(t, 'a'), '', marker('a')]).code).toBe(0);
    mkdirSync(join(t, 'a/gate/inner'), { recursive: true });
    expect(run(['rmdir', join(t, 'a'), marker('a')])).toMatchObject({ code: 0, out: '' });
    expect([existsSync(join(t, 'a')), existsSync(marker('a'))]).toEqual([false, false]);

    expect(run(['mkdir', join(t, 'b'), '', marker('b')]).code).toBe(0);
    mkdirSync(join(t, 'b/gate'));
    writeFileSync(join(t, 'b/gate/app-notes.txt'), "the app's");
    expect(run(['rmdir', join(t, 'b'), marker('b')])).toMatchObject({
      code: 0,
      out: `kept ${t}/b: holds files not made by this run\n`,
    });
    expect(readFileSync(join(t, 'b/gate/app-notes.txt'), 'utf8')).toBe("the app's");

    expect(run(['mkdir', join(t, 'c'), '', marker('c')]).code).toBe(0);
    symlinkSync('/etc', join(t, 'c/link')); // a link is not a directory this run made: kept, and /etc untouched
    expect(run(['rmdir', join(t, 'c'), marker('c')]).out).toBe(`kept ${t}/c: holds files not made by this run\n`);
    expect(existsSync(join(t, 'c/link'))).toBe(true);
  });
});
