import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';

// What the agent's tests share: how to run it, and what real hosts have that the lab never makes.

/** The agent as a directory: python3 runs its __main__.py. The runbook ships the same files as one zip (agent.test.ts runs it too). */
export const AGENT = import.meta.dirname;
/** Run with no __pycache__ left in the checkout. */
export const ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
export const agent = (...args: string[]) => spawnSync('python3', [AGENT, ...args], { maxBuffer: 64 << 20, env: ENV });
export const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The real interpreter (python3 may be a shell shim, which would hide the agent's argv and exit code). */
export const PY = execFileSync('python3', ['-c', 'import sys; print(sys.executable)']).toString().trim();
export const isRoot = process.getuid?.() === 0;
/** The owner sync-back gives: another user's as root (it must chown), else our own (only root can chown). */
export const [UID, GID] = isRoot ? [1234, 5678] : [process.getuid!(), process.getgid!()];
export const OWNER = `${UID}:${GID}`;
/** DIR/NAME as a Buffer path: NAME may hold any byte but '/' and NUL. */
export const at = (dir: string, name: Buffer | string) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]);
export const names = (dir: string) =>
  readdirSync(dir, { encoding: 'buffer' })
    .map((n) => n.toString('hex'))
    .sort();
export const oneLine = (r: { stderr: Buffer }) => {
  const e = r.stderr.toString();
  expect(e).not.toMatch(/Traceback/);
  expect(e.split('\n').filter(Boolean)).toHaveLength(1);
  return e;
};
/** sha256 of a file read in chunks (a 1 GiB sparse file must not be read into memory whole). */
export const shaFile = (p: string | Buffer) => {
  const h = createHash('sha256');
  const fd = openSync(p, 'r');
  const buf = Buffer.alloc(8 << 20);
  for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  closeSync(fd);
  return h.digest('hex');
};
/** A file of SIZE bytes, all hole but 8 KiB of data at OFFSET. */
export const sparseFile = (p: string, size: number, offset: number) => {
  const fd = openSync(p, 'w');
  ftruncateSync(fd, size);
  writeSync(fd, Buffer.alloc(8192, 0x5a), 0, 8192, offset);
  closeSync(fd);
};
/** The members of a tar archive: type flag, name field and data (pax records are the data of an 'x'). */
export const members = (tar: Buffer) => {
  const out: { type: string; name: string; body: Buffer }[] = [];
  for (let i = 0; i + 512 <= tar.length;) {
    const h = tar.subarray(i, i + 512);
    if (h.every((x) => x === 0)) break;
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0/g, '').trim() || '0', 8);
    out.push({
      type: String.fromCharCode(h[156]),
      name: h.subarray(0, 100).toString('latin1').replace(/\0+$/, ''),
      body: tar.subarray(i + 512, i + 512 + size),
    });
    i += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
};
/** A minimal ChromaDB dir: a WAL SQLite database with ROWS rows and whatever index files are added. */
export const chromaDir = (dir: string, rows = 3) => {
  mkdirSync(dir, { recursive: true });
  execFileSync(PY, [
    '-c',
    'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("pragma journal_mode=wal"); c.execute("create table t(i integer primary key)"); c.executemany("insert into t values (?)", [(i,) for i in range(int(sys.argv[2]))]); c.commit()',
    join(dir, 'chroma.sqlite3'),
    String(rows),
  ]);
};

/** Names real hosts have: not UTF-8, Latin-1, a newline, a backslash. */
export const ODD = [
  Buffer.from([0xff, 0xfe, 0x2e, 0x70, 0x64, 0x66]), // \xff\xfe.pdf: not UTF-8 at all
  Buffer.from('r\xe9sum\xe9.pdf', 'latin1'), // Latin-1
  Buffer.from('new\nline.pdf'),
  Buffer.from('back\\slash.pdf'),
];

/** Fresh dirs for one test file's tests (all removed after them), and a backup over one of them. */
export function tempDirs(prefix: string) {
  const base = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  let n = 0;
  /** A fresh dir for one test. */
  const fresh = () => {
    const d = join(base, `t${n++}`);
    mkdirSync(d);
    return d;
  };
  /** tar-stream LIVE as NAME into T/b, merge the manifest, extract into T/VOL; returns the paths. */
  const backup = (t: string, live: string, vol = 'vol', name = 'pdfs') => {
    const b = join(t, 'b');
    mkdirSync(b, { recursive: true });
    const r = agent('tar-stream', live, join(b, `${name}.tar`));
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(agent('merge-manifest', b, name).status).toBe(0);
    mkdirSync(join(t, vol));
    execFileSync('tar', ['--warning=no-unknown-keyword', '-xf', join(b, `${name}.tar`), '-C', join(t, vol)]);
    return { b, manifest: join(b, 'manifest.json'), vol: join(t, vol), out: r.stdout };
  };
  return { base, fresh, backup };
}
