import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, closeSync, copyFileSync, existsSync, ftruncateSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync,
  readFileSync, readlinkSync, readSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const AGENT = resolve(import.meta.dirname, 'agent.py');
const agent = (...args: string[]) => spawnSync('python3', [AGENT, ...args], { maxBuffer: 64 << 20 });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('host agent (python3, run here on temp dirs)', () => {
  const root = mkdtempSync(join(tmpdir(), 'agent-'));
  const src = join(root, 'pdfs');
  mkdirSync(join(src, 'Sub dir'), { recursive: true });
  writeFileSync(join(src, 'Annual Report 2023.pdf'), '%PDF-1.4 one');
  writeFileSync(join(src, 'Sub dir', 'Ünternehmens Übersicht.pdf'), Buffer.alloc(3 << 20, 7));
  const out = join(root, 'backup');
  mkdirSync(out);

  /** tar-stream LIVE as the pdfs archive into root/BACKUP (with its manifest), extracted into root/VOL. */
  const backupAndRestore = (live: string, backup: string, volume: string) => {
    const b = join(root, backup);
    const vol = join(root, volume);
    mkdirSync(b);
    mkdirSync(vol);
    expect(agent('tar-stream', live, join(b, 'pdfs.tar')).status).toBe(0);
    expect(agent('merge-manifest', b, 'pdfs').status).toBe(0);
    execFileSync('tar', ['-xf', join(b, 'pdfs.tar'), '-C', vol]);
    return { b, vol };
  };

  it('tar-stream: stdout, the host copy and its sha256 are the same bytes; the manifest lists every file', () => {
    const r = agent('tar-stream', src, join(out, 'pdfs.tar'));
    expect(r.status, r.stderr.toString()).toBe(0);
    const copy = readFileSync(join(out, 'pdfs.tar'));
    expect(sha(r.stdout)).toBe(sha(copy));
    expect(statSync(join(out, 'pdfs.tar')).mode & 0o077).toBe(0); // a host-side backup: the owner's only
    expect(readFileSync(join(out, 'pdfs.tar.sha256'), 'utf8').split(' ')[0]).toBe(sha(copy));
    const m = JSON.parse(readFileSync(join(out, 'pdfs.tar.manifest.json'), 'utf8'));
    expect(Object.keys(m.files).sort()).toEqual(['Annual Report 2023.pdf', 'Sub dir/Ünternehmens Übersicht.pdf']);
    expect(m.files['Annual Report 2023.pdf'].sha256).toBe(sha(Buffer.from('%PDF-1.4 one')));
    expect(m.bytes).toBe(copy.length);
  });

  it('tar-stream of a missing dir fails and leaves no complete-looking file', () => {
    const r = agent('tar-stream', join(root, 'nope'), join(out, 'nope.tar'));
    expect(r.status).not.toBe(0);
    expect(() => readFileSync(join(out, 'nope.tar'))).toThrow();
  });

  it('verify passes on a faithful restore and names what differs after corruption', () => {
    expect(agent('merge-manifest', out, 'pdfs').status).toBe(0);
    const dst = join(root, 'restored');
    mkdirSync(dst);
    execFileSync('tar', ['-xf', join(out, 'pdfs.tar'), '-C', dst]);
    expect(agent('verify', join(out, 'manifest.json'), 'pdfs', dst).status).toBe(0);
    writeFileSync(join(dst, 'Annual Report 2023.pdf'), '%PDF-1.4 tampered');
    const bad = agent('verify', join(out, 'manifest.json'), 'pdfs', dst);
    expect(bad.status).toBe(5);
    expect(bad.stderr.toString()).toBe(`verify FAILED for pdfs in ${dst}: 1 differ: Annual Report 2023.pdf: size 17 (found) vs 12 (manifest)\n`);
  });

  it('delta brings a restored copy up to the live dir: changed, added and deleted files', () => {
    const dst = join(root, 'vol');
    mkdirSync(dst);
    execFileSync('tar', ['-xf', join(out, 'pdfs.tar'), '-C', dst]);
    writeFileSync(join(src, 'new.pdf'), 'new');
    writeFileSync(join(src, 'Annual Report 2023.pdf'), '%PDF-1.4 changed after backup');
    rmSync(join(src, 'Sub dir', 'Ünternehmens Übersicht.pdf'));
    const r = agent('delta', join(out, 'manifest.json'), 'pdfs', src, dst);
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ changed: 1, added: 1, deleted: 1 });
    expect(execFileSync('diff', ['-r', src, dst]).toString()).toBe('');
  });

  it('tar-stream writes a tar GNU tar extracts exactly: long and non-ASCII names, symlinks, empty files, modes', () => {
    const t = join(root, 'odd');
    const long = `${'deep/'.repeat(25)}${'n'.repeat(120)} ü.pdf`;
    mkdirSync(join(t, long, '..'), { recursive: true });
    writeFileSync(join(t, long), 'long name');
    writeFileSync(join(t, 'empty'), '');
    writeFileSync(join(t, 'exact-512'), Buffer.alloc(512, 1));
    writeFileSync(join(t, 'script.sh'), '#!/bin/sh\n', { mode: 0o750 });
    execFileSync('ln', ['-s', 'script.sh', join(t, 'link')]);
    const r = agent('tar-stream', t, join(out, 'odd.tar'));
    expect(r.status, r.stderr.toString()).toBe(0);
    const x = join(root, 'odd-x');
    mkdirSync(x);
    execFileSync('tar', ['-xf', join(out, 'odd.tar'), '-C', x]);
    expect(execFileSync('diff', ['-r', '--no-dereference', t, x]).toString()).toBe('');
    expect(readFileSync(join(x, long), 'utf8')).toBe('long name');
    expect(execFileSync('stat', ['-c', '%a', join(x, 'script.sh')]).toString().trim()).toBe('750');
    expect(execFileSync('readlink', [join(x, 'link')]).toString().trim()).toBe('script.sh');
    const m = JSON.parse(readFileSync(join(out, 'odd.tar.manifest.json'), 'utf8'));
    expect(Object.keys(m.files).sort()).toEqual([long, 'empty', 'exact-512', 'link', 'script.sh'].sort());
    expect(m.files.link).toEqual({ link: 'script.sh' });
    expect(m.files[long].sha256).toBe(sha(Buffer.from('long name')));
  });

  it('delta skips files untouched since the backup read them by stat alone, and still catches a rewrite that keeps size and mtime', () => {
    const live = join(root, 'live');
    mkdirSync(live);
    for (let i = 0; i < 5; i++) writeFileSync(join(live, `f${i}.pdf`), `content ${i}`);
    execFileSync('sleep', ['1.1']); // past the timestamp-granularity window: the backup's reads are not "racy"
    const { b, vol: dst } = backupAndRestore(live, 'b2', 'vol2');
    execFileSync('sleep', ['1.1']);
    const quiet = agent('delta', join(b, 'manifest.json'), 'pdfs', live, dst);
    expect(JSON.parse(quiet.stdout.toString())).toMatchObject({ changed: 0, added: 0, deleted: 0, rehashed: 0 });
    // same size, mtime put back: only ctime tells
    const f = join(live, 'f2.pdf');
    const mtime = execFileSync('stat', ['-c', '%y', f]).toString().trim();
    writeFileSync(f, 'CONTENT 2');
    execFileSync('touch', ['-d', mtime, f]);
    const r = agent('delta', join(b, 'manifest.json'), 'pdfs', live, dst);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ changed: 1, rehashed: 1 });
    expect(readFileSync(join(dst, 'f2.pdf'), 'utf8')).toBe('CONTENT 2');
  });

  it('parity proves untouched files by stat, hashes the rest, and its sample catches a forged proof', () => {
    const live = join(root, 'plive');
    mkdirSync(join(live, 'sub'), { recursive: true });
    for (let i = 0; i < 6; i++) writeFileSync(join(live, 'sub', `d${i}.pdf`), `document ${i}`);
    execFileSync('sleep', ['0.2']);
    const { b, vol } = backupAndRestore(live, 'pb', 'pvol');
    execFileSync('sleep', ['0.2']);
    const stat = join(b, 'restored', 'pdfs.stat.json');
    expect(agent('verify', join(b, 'manifest.json'), 'pdfs', vol, stat).status).toBe(0);
    execFileSync('sleep', ['0.2']);
    const parity = (sample = '0') => agent('parity', join(b, 'manifest.json'), 'pdfs', live, vol, stat, sample);
    const ok = parity();
    expect(ok.status, ok.stderr.toString()).toBe(0);
    expect(JSON.parse(ok.stdout.toString())).toMatchObject({ files: 6, proven_by_stat: 6, hashed: 0 });

    // A changed volume file loses its proof and is hashed: caught.
    const victim = join(vol, 'sub', 'd3.pdf');
    writeFileSync(victim, 'DOCUMENT 3');
    const bad = parity();
    expect(bad.status).toBe(7);
    expect(bad.stderr.toString()).toBe('parity FAILED for pdfs: 1 differ: sub/d3.pdf: content differs\n');

    // A forged proof (the stat file claims the changed file is as verified): only the sample sees it.
    // (in Python: nanosecond times do not fit a JS number)
    execFileSync('python3', ['-c', 'import os,sys,time,json; p,v=sys.argv[1:]; d=json.load(open(p)); s=os.stat(v); d["sub/d3.pdf"]=[s.st_size, s.st_mtime_ns, s.st_ctime_ns, time.time_ns() + 10**10]; json.dump(d, open(p, "w"))', stat, victim]);
    expect(parity('0').status).toBe(0); // no sample: the forged proof is believed
    expect(parity('64').status).toBe(7); // the sample (everything, here) catches it
  });
});

// ---- what real hosts have and the lab never makes

/** The real interpreter (python3 may be a shell shim, which would hide the agent's argv and exit code). */
const PY = execFileSync('python3', ['-c', 'import sys; print(sys.executable)']).toString().trim();
const isRoot = process.getuid?.() === 0;
/** The owner sync-back gives: another user's as root (it must chown), else our own (only root can chown). */
const [UID, GID] = isRoot ? [1234, 5678] : [process.getuid!(), process.getgid!()];
const OWNER = `${UID}:${GID}`;
/** DIR/NAME as a Buffer path: NAME may hold any byte but '/' and NUL. */
const at = (dir: string, name: Buffer | string) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]);
const names = (dir: string) => readdirSync(dir, { encoding: 'buffer' }).map((n) => n.toString('hex')).sort();
const oneLine = (r: { stderr: Buffer }) => {
  const e = r.stderr.toString();
  expect(e).not.toMatch(/Traceback/);
  expect(e.split('\n').filter(Boolean)).toHaveLength(1);
  return e;
};
/** sha256 of a file read in chunks (a 1 GiB sparse file must not be read into memory whole). */
const shaFile = (p: string | Buffer) => {
  const h = createHash('sha256');
  const fd = openSync(p, 'r');
  const buf = Buffer.alloc(8 << 20);
  for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  closeSync(fd);
  return h.digest('hex');
};
/** A file of SIZE bytes, all hole but 8 KiB of data at OFFSET. */
const sparseFile = (p: string, size: number, offset: number) => {
  const fd = openSync(p, 'w');
  ftruncateSync(fd, size);
  writeSync(fd, Buffer.alloc(8192, 0x5a), 0, 8192, offset);
  closeSync(fd);
};
/** The members of a tar archive: type flag, name field and data (pax records are the data of an 'x'). */
const members = (tar: Buffer) => {
  const out: { type: string; name: string; body: Buffer }[] = [];
  for (let i = 0; i + 512 <= tar.length;) {
    const h = tar.subarray(i, i + 512);
    if (h.every((x) => x === 0)) break;
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0/g, '').trim() || '0', 8);
    out.push({ type: String.fromCharCode(h[156]), name: h.subarray(0, 100).toString('latin1').replace(/\0+$/, ''), body: tar.subarray(i + 512, i + 512 + size) });
    i += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
};
/** A minimal ChromaDB dir: a WAL SQLite database with ROWS rows and whatever index files are added. */
const chromaDir = (dir: string, rows = 3) => {
  mkdirSync(dir, { recursive: true });
  execFileSync(PY, ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("pragma journal_mode=wal"); c.execute("create table t(i integer primary key)"); c.executemany("insert into t values (?)", [(i,) for i in range(int(sys.argv[2]))]); c.commit()', join(dir, 'chroma.sqlite3'), String(rows)]);
};

describe('host agent on what real hosts have', () => {
  const base = mkdtempSync(join(tmpdir(), 'agent-real-'));
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

  const ODD = [
    Buffer.from([0xff, 0xfe, 0x2e, 0x70, 0x64, 0x66]), // \xff\xfe.pdf: not UTF-8 at all
    Buffer.from('r\xe9sum\xe9.pdf', 'latin1'), // Latin-1
    Buffer.from('new\nline.pdf'),
    Buffer.from('back\\slash.pdf'),
  ];

  it('names are bytes end to end: every command takes names that are not UTF-8, newlines and backslashes', () => {
    const t = fresh();
    const live = join(t, 'live');
    mkdirSync(join(live, 'sub'), { recursive: true });
    ODD.forEach((name, i) => writeFileSync(at(live, name), `doc ${i}`));
    writeFileSync(at(join(live, 'sub'), ODD[0]), 'nested');
    symlinkSync(ODD[1], at(live, Buffer.concat([Buffer.from('link-'), ODD[0]])));
    execFileSync('sleep', ['0.2']); // past the timestamp-granularity window: the stat proofs hold
    const { b, manifest, vol } = backup(t, live);

    // GNU tar gets the raw bytes (a pax path that is not UTF-8 is marked hdrcharset=BINARY)
    expect(readFileSync(join(b, 'pdfs.tar')).includes('hdrcharset=BINARY')).toBe(true);
    expect(names(vol)).toEqual(names(live));
    expect(names(vol)).toContain(ODD[0].toString('hex'));
    expect(readFileSync(at(vol, ODD[0]), 'utf8')).toBe('doc 0');
    expect(execFileSync('diff', ['-r', '--no-dereference', live, vol]).toString()).toBe('');
    // the manifest keys are the surrogate-escaped names (PEP 383), which round-trip through JSON
    const text = readFileSync(join(b, 'pdfs.tar.manifest.json'), 'utf8');
    expect(text).toContain('"\\udcff\\udcfe.pdf"');
    const m = JSON.parse(text);
    expect(m.names).toMatch(/PEP 383/);
    expect(Object.keys(m.files).sort()).toEqual(['back\\slash.pdf', 'link-\udcff\udcfe.pdf', 'new\nline.pdf', 'r\udce9sum\udce9.pdf', 'sub/\udcff\udcfe.pdf', '\udcff\udcfe.pdf'].sort());

    const stat = join(b, 'restored', 'pdfs.stat.json');
    const v = agent('verify', manifest, 'pdfs', vol, stat);
    expect(v.status, v.stderr.toString()).toBe(0);
    execFileSync('sleep', ['0.2']);
    // the sample orders the proven files by a hash of their name's bytes (this raised UnicodeEncodeError)
    const p = agent('parity', manifest, 'pdfs', live, vol, stat, '64');
    expect(p.status, p.stderr.toString()).toBe(0);
    expect(JSON.parse(p.stdout.toString())).toMatchObject({ files: 6, proven_by_stat: 5, sampled: 5 });

    // failures name the files readably, on one line
    writeFileSync(at(vol, ODD[2]), 'DOC 2');
    writeFileSync(at(vol, ODD[0]), 'DOC 0');
    const bad = agent('verify', manifest, 'pdfs', vol);
    expect(bad.status).toBe(5);
    expect(oneLine(bad)).toBe(`verify FAILED for pdfs in ${vol}: 2 differ: new\\x0aline.pdf: content differs; \\xff\\xfe.pdf: content differs\n`);

    // delta: a new Latin-1 name, a changed and a deleted odd name
    const vol2 = join(t, 'vol2');
    mkdirSync(vol2);
    execFileSync('tar', ['--warning=no-unknown-keyword', '-xf', join(b, 'pdfs.tar'), '-C', vol2]);
    writeFileSync(at(live, Buffer.from('\xfcber.pdf', 'latin1')), 'new');
    writeFileSync(at(live, ODD[3]), 'changed');
    rmSync(at(live, ODD[1]));
    const d = agent('delta', manifest, 'pdfs', live, vol2);
    expect(d.status, d.stderr.toString()).toBe(0);
    expect(JSON.parse(d.stdout.toString())).toMatchObject({ changed: 1, added: 1, deleted: 1 });
    expect(execFileSync('diff', ['-r', '--no-dereference', live, vol2]).toString()).toBe('');

    // sync-back: its digest hashes the names' bytes (this raised UnicodeEncodeError)
    const bare = join(t, 'bare');
    execFileSync('cp', ['-a', live, bare]);
    writeFileSync(at(vol2, Buffer.from([0x80, 0x81])), 'written by the containers');
    const s = agent('sync-back', vol2, bare, join(t, 'bare.kept'), OWNER);
    expect(s.status, s.stderr.toString()).toBe(0);
    expect(execFileSync('diff', ['-r', '--no-dereference', vol2, bare]).toString()).toBe('');

    // snapshot: an index file with an odd name
    const chroma = join(t, 'chroma');
    chromaDir(chroma);
    mkdirSync(join(chroma, 'seg'));
    writeFileSync(at(join(chroma, 'seg'), ODD[0]), 'index');
    const snap = agent('snapshot', chroma, join(t, 'stage', 'chroma'));
    expect(snap.status, snap.stderr.toString()).toBe(0);
    expect(readFileSync(at(join(t, 'stage', 'chroma', 'seg'), ODD[0]), 'utf8')).toBe('index');
    expect(Object.keys(JSON.parse(readFileSync(join(t, 'stage', 'chroma.live-stat.json'), 'utf8')))).toContain('seg/\udcff\udcfe.pdf');
  });

  it('symlinks are data: archived, verified and compared by target, carried by delta and sync-back as links, never followed', () => {
    const t = fresh();
    const live = join(t, 'live');
    mkdirSync(join(live, 'sub'), { recursive: true });
    writeFileSync(join(live, 'doc.pdf'), 'doc');
    writeFileSync(join(live, 'sub', 'in-sub.pdf'), 'in sub');
    symlinkSync('doc.pdf', join(live, 'rel'));
    symlinkSync('/etc/hostname', join(live, 'abs')); // out of the tree
    symlinkSync('/nonexistent/x', join(live, 'gone')); // dangling
    symlinkSync('sub', join(live, 'dirlink')); // a link to a directory is a link, not a directory
    execFileSync('sleep', ['0.2']);
    const { b, manifest, vol } = backup(t, live);
    const m = JSON.parse(readFileSync(join(b, 'pdfs.tar.manifest.json'), 'utf8'));
    expect(m.files).toMatchObject({ rel: { link: 'doc.pdf' }, abs: { link: '/etc/hostname' }, gone: { link: '/nonexistent/x' }, dirlink: { link: 'sub' } });
    expect(Object.keys(m.files).sort()).toEqual(['abs', 'dirlink', 'doc.pdf', 'gone', 'rel', 'sub/in-sub.pdf']);
    expect(readlinkSync(join(vol, 'gone'))).toBe('/nonexistent/x');
    const stat = join(b, 'restored', 'pdfs.stat.json');
    expect(agent('verify', manifest, 'pdfs', vol, stat).status).toBe(0);
    execFileSync('sleep', ['0.2']);
    const ok = agent('parity', manifest, 'pdfs', live, vol, stat);
    expect(ok.status, ok.stderr.toString()).toBe(0);

    // a link retargeted in the volume: verify and parity name it
    rmSync(join(vol, 'rel'));
    symlinkSync('other.pdf', join(vol, 'rel'));
    const v = agent('verify', manifest, 'pdfs', vol);
    expect(v.status).toBe(5);
    expect(oneLine(v)).toBe(`verify FAILED for pdfs in ${vol}: 1 differ: link rel: -> doc.pdf (manifest) vs -> other.pdf (found)\n`);
    const p = agent('parity', manifest, 'pdfs', live, vol, stat);
    expect(p.status).toBe(7);
    expect(oneLine(p)).toBe('parity FAILED for pdfs: 1 differ: link rel: -> doc.pdf (live) vs -> other.pdf (volume)\n');

    // delta: a changed, a new and a deleted link
    rmSync(join(live, 'abs'));
    symlinkSync('/etc/passwd', join(live, 'abs'));
    symlinkSync('/nowhere', join(live, 'new'));
    rmSync(join(live, 'gone'));
    rmSync(join(vol, 'rel'));
    symlinkSync('doc.pdf', join(vol, 'rel'));
    const d = agent('delta', manifest, 'pdfs', live, vol);
    expect(d.status, d.stderr.toString()).toBe(0);
    expect(JSON.parse(d.stdout.toString())).toMatchObject({ changed: 1, added: 1, deleted: 1 });
    expect(lstatSync(join(vol, 'abs')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(vol, 'abs'))).toBe('/etc/passwd');
    expect(readlinkSync(join(vol, 'new'))).toBe('/nowhere');
    expect(() => lstatSync(join(vol, 'gone'))).toThrow();
    expect(execFileSync('diff', ['-r', '--no-dereference', live, vol]).toString()).toBe('');

    // sync-back copies links as links (shutil.copytree followed them, and died on the dangling one)
    const bare = join(t, 'bare');
    execFileSync('cp', ['-a', live, bare]);
    writeFileSync(join(vol, 'written-in-container.pdf'), 'x');
    const s = agent('sync-back', vol, bare, join(t, 'bare.kept'), OWNER);
    expect(s.status, s.stderr.toString()).toBe(0);
    for (const l of ['abs', 'new', 'rel', 'dirlink']) expect(lstatSync(join(bare, l)).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(bare, 'abs'))).toBe('/etc/passwd');
    expect(execFileSync('diff', ['-r', '--no-dereference', vol, bare]).toString()).toBe('');
  });

  it('sparse files stay sparse: a GNU sparse 1.0 member as GNU tar writes it, extracted sparse, same sha256; every copy keeps the holes', () => {
    const t = fresh();
    const live = join(t, 'live');
    mkdirSync(live);
    sparseFile(join(live, 'big.img'), 1 << 30, 512 << 20); // 1 GiB, 8 KiB of data at 512 MiB
    writeFileSync(join(live, 'small.pdf'), 'small');
    const want = shaFile(join(live, 'big.img'));
    const { b, out, vol } = backup(t, live);
    // the archive on both ends stays small
    expect(out.length).toBeLessThan(1 << 20);
    expect(statSync(join(b, 'pdfs.tar')).size).toBeLessThan(1 << 20);
    const m = JSON.parse(readFileSync(join(b, 'pdfs.tar.manifest.json'), 'utf8'));
    expect(m.files['big.img']).toMatchObject({ size: 1 << 30, sha256: want });
    // the same pax records and member data GNU tar writes for this file
    execFileSync('tar', ['--format=pax', '--sparse', '-cf', join(t, 'gnu.tar'), '-C', live, './big.img']);
    const sparseOf = (tar: Buffer) => {
      const ms = members(tar);
      const i = ms.findIndex((x) => x.type === 'x' && x.body.includes('GNU.sparse.name=./big.img'));
      const recs = ms[i].body.toString('latin1').split('\n').filter((r) => r.includes('GNU.sparse'));
      return { recs, body: ms[i + 1].body, name: ms[i + 1].name };
    };
    const ours = sparseOf(readFileSync(join(b, 'pdfs.tar')));
    const gnu = sparseOf(readFileSync(join(t, 'gnu.tar')));
    expect(ours.recs).toEqual(gnu.recs);
    expect(ours.recs).toEqual(['22 GNU.sparse.major=1', '22 GNU.sparse.minor=0', '29 GNU.sparse.name=./big.img', '34 GNU.sparse.realsize=1073741824']);
    expect(ours.body.equals(gnu.body)).toBe(true);
    expect(ours.name).toMatch(/GNUSparseFile\.\d+\/big\.img$/);
    // GNU tar extracts a sparse file with the same content
    const x = statSync(join(vol, 'big.img'));
    expect(x.size).toBe(1 << 30);
    expect(x.blocks * 512).toBeLessThan(1 << 20);
    expect(shaFile(join(vol, 'big.img'))).toBe(want);
    expect(agent('verify', join(b, 'manifest.json'), 'pdfs', vol).status).toBe(0);

    // delta, snapshot and sync-back copies keep the holes
    const small = (p: string) => expect(statSync(p).blocks * 512).toBeLessThan(1 << 20);
    sparseFile(join(live, 'new.img'), 64 << 20, 32 << 20);
    const d = agent('delta', join(b, 'manifest.json'), 'pdfs', live, vol);
    expect(d.status, d.stderr.toString()).toBe(0);
    small(join(vol, 'new.img'));
    expect(shaFile(join(vol, 'new.img'))).toBe(shaFile(join(live, 'new.img')));
    const chroma = join(t, 'chroma');
    chromaDir(chroma);
    sparseFile(join(chroma, 'index.bin'), 64 << 20, 1 << 20);
    expect(agent('snapshot', chroma, join(t, 'stage')).status).toBe(0);
    small(join(t, 'stage', 'index.bin'));
    expect(shaFile(join(t, 'stage', 'index.bin'))).toBe(shaFile(join(chroma, 'index.bin')));
    const bare = join(t, 'bare');
    mkdirSync(bare);
    expect(agent('sync-back', vol, bare, join(t, 'bare.kept'), OWNER).status).toBe(0);
    small(join(bare, 'new.img'));
    small(join(bare, 'big.img'));
    expect(statSync(join(bare, 'big.img')).size).toBe(1 << 30);
  }, 60_000);

  it('hard links stay hard links: link entries in the tar, verified by inode; delta, snapshot and sync-back keep them', () => {
    const t = fresh();
    const live = join(t, 'live');
    mkdirSync(join(live, 'sub'), { recursive: true });
    writeFileSync(join(live, 'a.pdf'), 'shared');
    linkSync(join(live, 'a.pdf'), join(live, 'c.pdf'));
    linkSync(join(live, 'a.pdf'), join(live, 'sub', 'b.pdf'));
    writeFileSync(join(live, 'd.pdf'), 'alone');
    const { b, manifest, vol } = backup(t, live);
    const ms = members(readFileSync(join(b, 'pdfs.tar')));
    expect(ms.filter((x) => x.type === '1').map((x) => x.name)).toEqual(['./c.pdf', './sub/b.pdf']);
    const m = JSON.parse(readFileSync(join(b, 'pdfs.tar.manifest.json'), 'utf8'));
    expect(m.files['c.pdf']).toMatchObject({ hardlink: 'a.pdf', size: 6, sha256: sha(Buffer.from('shared')) });
    expect(m.files['sub/b.pdf']).toMatchObject({ hardlink: 'a.pdf' });
    const group = (dir: string, ...ps: string[]) => ps.map((p) => `${statSync(join(dir, p)).ino}/${statSync(join(dir, p)).nlink}`);
    const [first] = group(vol, 'a.pdf');
    expect(first.endsWith('/3')).toBe(true);
    expect(group(vol, 'a.pdf', 'c.pdf', 'sub/b.pdf')).toEqual([first, first, first]);
    expect(agent('verify', manifest, 'pdfs', vol).status).toBe(0);

    // a restore that lost the link: verify names it
    rmSync(join(vol, 'sub', 'b.pdf'));
    writeFileSync(join(vol, 'sub', 'b.pdf'), 'shared');
    const v = agent('verify', manifest, 'pdfs', vol);
    expect(v.status).toBe(5);
    expect(oneLine(v)).toBe(`verify FAILED for pdfs in ${vol}: 1 differ: sub/b.pdf: not a hard link of a.pdf\n`);
    rmSync(join(vol, 'sub', 'b.pdf'));
    linkSync(join(vol, 'a.pdf'), join(vol, 'sub', 'b.pdf'));

    // delta: the shared inode rewritten in place (copied once, linked twice), a new link to d.pdf
    writeFileSync(join(live, 'a.pdf'), 'shared, changed');
    linkSync(join(live, 'd.pdf'), join(live, 'e.pdf'));
    const d = agent('delta', manifest, 'pdfs', live, vol);
    expect(d.status, d.stderr.toString()).toBe(0);
    const [na] = group(vol, 'a.pdf');
    expect(na.endsWith('/3')).toBe(true);
    expect(group(vol, 'a.pdf', 'c.pdf', 'sub/b.pdf')).toEqual([na, na, na]);
    expect(readFileSync(join(vol, 'sub', 'b.pdf'), 'utf8')).toBe('shared, changed');
    const [nd] = group(vol, 'd.pdf');
    expect(group(vol, 'd.pdf', 'e.pdf')).toEqual([nd, nd]);
    expect(nd.endsWith('/2')).toBe(true);

    // sync-back and the snapshot's stage copy
    const bare = join(t, 'bare');
    mkdirSync(bare);
    expect(agent('sync-back', vol, bare, join(t, 'bare.kept'), OWNER).status).toBe(0);
    const [sa] = group(bare, 'a.pdf');
    expect(group(bare, 'a.pdf', 'c.pdf', 'sub/b.pdf', 'd.pdf')).toEqual([sa, sa, sa, expect.stringMatching(/\/2$/)]);
    expect(sa.endsWith('/3')).toBe(true);
    const chroma = join(t, 'chroma');
    chromaDir(chroma);
    writeFileSync(join(chroma, 'x.bin'), 'index');
    linkSync(join(chroma, 'x.bin'), join(chroma, 'y.bin'));
    expect(agent('snapshot', chroma, join(t, 'stage')).status).toBe(0);
    const [sx] = group(join(t, 'stage'), 'x.bin');
    expect(group(join(t, 'stage'), 'x.bin', 'y.bin')).toEqual([sx, sx]);
    expect(sx.endsWith('/2')).toBe(true);
  });

  // The app: ~25 times a second it commits a row, appends to an index file, writes ten files and a directory
  // and deletes the previous tick's, and replaces header.bin by rename: files and directories appear,
  // vanish and are renamed under the snapshot's feet. With CTL/pause it stops between two whole ticks,
  // like supervisorctl stop, and says so with CTL/paused.
  const WRITER = `
import os, shutil, sqlite3, sys, time
d, ctl = sys.argv[1:]
os.makedirs(os.path.join(d, "seg"), exist_ok=True)
db = sqlite3.connect(os.path.join(d, "chroma.sqlite3"), isolation_level=None)
db.execute("pragma journal_mode=wal")
db.execute("create table if not exists t(i integer primary key)")
i = 0
open(os.path.join(ctl, "ready"), "w").close()
while True:
    if os.path.exists(os.path.join(ctl, "pause")):
        open(os.path.join(ctl, "paused"), "w").close()
        time.sleep(0.01)
        continue
    i += 1
    db.execute("insert into t values (?)", (i,))
    with open(os.path.join(d, "seg", "data_level0.bin"), "ab") as f:
        f.write(b"%d\\n" % i)
    os.mkdir(os.path.join(d, "seg", "compact-%d" % i))
    for j in range(10):
        with open(os.path.join(d, "seg", "compact-%d" % i, "tmp-%d" % j), "wb") as f:
            f.write(b"%d" % i)
    shutil.rmtree(os.path.join(d, "seg", "compact-%d" % (i - 1)), ignore_errors=True)
    with open(os.path.join(d, "seg", "header.bin.tmp"), "wb") as f:
        f.write(b"%d" % i)
    os.rename(os.path.join(d, "seg", "header.bin.tmp"), os.path.join(d, "seg", "header.bin"))
    time.sleep(0.04)
`;
  /** integrity_check, max row, row count of the copy's database, its header.bin and last index line. */
  const consistency = (dir: string) => execFileSync(PY, ['-c', 'import sqlite3,sys; d=sys.argv[1]; c=sqlite3.connect(d+"/chroma.sqlite3"); print(c.execute("pragma integrity_check").fetchone()[0], *c.execute("select max(i), count(*) from t").fetchone(), open(d+"/seg/header.bin").read(), open(d+"/seg/data_level0.bin").read().split()[-1])', dir]).toString().trim().split(' ');

  it('snapshot converges while the app writes, or says so in one line; with --pause it pauses once and the copy is of one moment', () => {
    const t = fresh();
    const chroma = join(t, 'chroma');
    const ctl = join(t, 'ctl');
    mkdirSync(chroma);
    mkdirSync(ctl);
    writeFileSync(join(t, 'writer.py'), WRITER);
    const app = spawn(PY, [join(t, 'writer.py'), chroma, ctl], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 200 && !existsSync(join(ctl, 'ready')); i++) execFileSync('sleep', ['0.05']);
      execFileSync('sleep', ['0.3']);
      // without --pause: converged (then consistent) or exit 3 with one line, nothing left behind
      const free = agent('snapshot', chroma, join(t, 'stage1'), '--attempts', '3');
      expect([0, 3]).toContain(free.status);
      if (free.status === 3) {
        expect(oneLine(free)).toMatch(/^snapshot: .* kept changing during 3 copy attempts: retry with --pause/);
        expect(existsSync(join(t, 'stage1'))).toBe(false);
      } else {
        const [ok, max, count, header, last] = consistency(join(t, 'stage1'));
        expect([ok, count, header, last]).toEqual(['ok', max, max, max]);
      }
      // with --pause: one pause, measured, and the app resumed
      const r = agent('snapshot', chroma, join(t, 'stage'), '--attempts', '2',
        '--pause', `touch ${ctl}/pause; while [ ! -e ${ctl}/paused ]; do sleep 0.01; done`, '--resume', `rm -f ${ctl}/pause ${ctl}/paused`);
      expect(r.status, r.stderr.toString()).toBe(0);
      const out = JSON.parse(r.stdout.toString());
      expect(out).toMatchObject({ snapshot: join(t, 'stage'), attempts: 3, files: 13 });
      expect(typeof out.paused_ms).toBe('number');
      const [ok, max, count, header, last] = consistency(join(t, 'stage'));
      expect([ok, count, header, last]).toEqual(['ok', max, max, max]);
      expect(Number(max)).toBeGreaterThan(0);
      // the index files of that moment, none of an earlier tick's
      expect(readdirSync(join(t, 'stage', 'seg')).sort()).toEqual([`compact-${max}`, 'data_level0.bin', 'header.bin']);
      expect(readdirSync(join(t, 'stage', 'seg', `compact-${max}`))).toHaveLength(10);
      const stat = JSON.parse(readFileSync(join(t, 'stage.live-stat.json'), 'utf8'));
      expect(Object.keys(stat)).toContain('seg/data_level0.bin');
      const before = readFileSync(join(chroma, 'seg', 'header.bin'), 'utf8');
      execFileSync('sleep', ['0.3']);
      expect(readFileSync(join(chroma, 'seg', 'header.bin'), 'utf8')).not.toBe(before); // resumed
    } finally {
      app.kill('SIGKILL');
    }
  }, 60_000);

  it('snapshot always runs the resume command: after a failure, on SIGTERM, and says so when the resume fails', () => {
    const t = fresh();
    const chroma = join(t, 'chroma');
    chromaDir(chroma);
    writeFileSync(join(chroma, 'index.bin'), 'index');
    // the paused pass fails (the database is gone): one line, the app resumed, no half copy
    const f = agent('snapshot', chroma, join(t, 'stage'), '--attempts', '0', '--pause', `mv ${chroma}/chroma.sqlite3 ${t}/`, '--resume', `touch ${t}/resumed`);
    expect(f.status).toBe(1);
    expect(oneLine(f)).toMatch(/chroma\.sqlite3 does not exist/);
    expect(existsSync(join(t, 'resumed'))).toBe(true);
    expect(existsSync(join(t, 'stage'))).toBe(false);
    execFileSync('mv', [join(t, 'chroma.sqlite3'), chroma]);
    // SIGTERM (the SSH session went away) while paused
    const k = agent('snapshot', chroma, join(t, 'stage'), '--attempts', '0', '--pause', 'kill -TERM $PPID; sleep 1', '--resume', `touch ${t}/resumed2`);
    expect(k.status).toBe(143);
    expect(oneLine(k)).toMatch(/^snapshot: stopped by SIGTERM/);
    expect(existsSync(join(t, 'resumed2'))).toBe(true);
    expect(existsSync(join(t, 'stage'))).toBe(false);
    // a failed resume: the copy is done but the operator must know the app may still be paused
    const r = agent('snapshot', chroma, join(t, 'stage'), '--attempts', '0', '--pause', 'true', '--resume', 'exit 3');
    expect(r.status).toBe(4);
    expect(r.stderr.toString()).toMatch(/the resume command failed \(exit 3\): the app may still be paused/);
  });

  it('snapshot copies a rollback-journal database too (the backup API in steps), and refuses the old STATS_URL argv', () => {
    const t = fresh();
    const chroma = join(t, 'chroma');
    mkdirSync(chroma);
    execFileSync(PY, ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("create table t(x blob)"); c.executemany("insert into t values (randomblob(4000))", [()]*3000); c.commit()', join(chroma, 'chroma.sqlite3')]);
    const r = agent('snapshot', chroma, join(t, 'stage'));
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ attempts: 1, paused_ms: null, files: 1 });
    const check = 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("pragma integrity_check").fetchone()[0], c.execute("select count(*), sum(length(x)) from t").fetchone())';
    expect(execFileSync(PY, ['-c', check, join(t, 'stage', 'chroma.sqlite3')]).toString()).toBe('ok (3000, 12000000)\n');
    const old = agent('snapshot', chroma, join(t, 'stage2'), 'http://127.0.0.1:8000/stats', join(t, 'stats.json'));
    expect(old.status).toBe(2);
    expect(oneLine(old)).toMatch(/^usage: snapshot SRC_CHROMA DEST_CHROMA \[--pause SH_CMD --resume SH_CMD\] \[--attempts N\]/);
  });

  it.runIf(isRoot)('a full disk is one line, exit 28, and leaves no partial file (tar-stream, snapshot)', () => {
    const t = fresh();
    const src = join(t, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.pdf'), randomBytes(5_000_000));
    const chroma = join(t, 'chroma');
    chromaDir(chroma);
    writeFileSync(join(chroma, 'index.bin'), randomBytes(3_000_000));
    const full = join(t, 'full');
    mkdirSync(full);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', full]);
    try {
      const r = agent('tar-stream', src, join(full, 'pdfs.tar'));
      expect(r.status).toBe(28);
      expect(oneLine(r)).toMatch(new RegExp(`^tar-stream: host disk full writing ${full}/pdfs\\.tar\\.part after \\d+\\.\\d MB \\(the source is 5\\.0 MB\\): free space on the host, then retry\n$`));
      expect(readdirSync(full)).toEqual([]);
      const s = agent('snapshot', chroma, join(full, 'chroma'));
      expect(s.status).toBe(28);
      expect(oneLine(s)).toMatch(/^snapshot: host disk full writing .*index\.bin after .* \(the source is 3\.\d MB\): free space on the host, then retry\n$/);
      expect(readdirSync(full)).toEqual([]);
    } finally {
      execFileSync('umount', [full]);
    }
  });

  it('a cut connection is one line, exit 9, and leaves no partial archive; so is a permission error (exit 13)', () => {
    const t = fresh();
    chmodSync(base, 0o755); // another user must reach the source
    chmodSync(t, 0o755);
    const src = join(t, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.pdf'), randomBytes(5_000_000));
    const cut = spawnSync('bash', ['-c', `"${PY}" "${AGENT}" tar-stream "${src}" "${t}/out.tar" | head -c 1000 >/dev/null; exit \${PIPESTATUS[0]}`]);
    expect(cut.status).toBe(9);
    expect(oneLine(cut)).toMatch(/^tar-stream: the connection was cut \(stdout closed\)/);
    expect(readdirSync(t).filter((x) => x.startsWith('out.tar'))).toEqual([]);

    // an unreadable file (as another user when run as root: root reads everything)
    chmodSync(src, 0o755);
    writeFileSync(join(src, 'secret.pdf'), 'secret', { mode: 0o000 });
    const outDir = join(t, 'out');
    mkdirSync(outDir, { mode: 0o777 });
    chmodSync(outDir, 0o777);
    const py = [PY, '/usr/bin/python3'].find((p) => !isRoot || spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', p, '-c', '']).status === 0);
    if (!py) return; // no interpreter another user can run: nothing to show here
    // a copy another user can read: the checkout itself may be in a mode-700 dir (a CI clone under mktemp -d)
    const agentCopy = join(t, 'agent.py');
    copyFileSync(AGENT, agentCopy);
    chmodSync(agentCopy, 0o755);
    const argv = [py, agentCopy, 'tar-stream', src, join(outDir, 'pdfs.tar')];
    const opts = { maxBuffer: 64 << 20 }; // the archive goes to stdout
    const r = isRoot ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...argv], opts) : spawnSync(argv[0], argv.slice(1), opts);
    expect(r.status).toBe(13);
    expect(oneLine(r)).toBe(`tar-stream: permission denied reading ${src}/secret.pdf: Permission denied: run it as root, or fix the owner/mode of that path\n`);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('parity and verify name each difference, the first five, readably', () => {
    const t = fresh();
    const live = join(t, 'live');
    mkdirSync(live);
    for (const f of ['a', 'b', 'c', 'd', 'e', 'f']) writeFileSync(join(live, `${f}.pdf`), `doc ${f}`);
    symlinkSync('a.pdf', join(live, 'l'));
    const { b, manifest, vol } = backup(t, live);
    writeFileSync(join(vol, 'a.pdf'), 'longer doc a'); // size differs
    writeFileSync(join(vol, 'b.pdf'), 'DOC B'); // same size, content differs
    rmSync(join(vol, 'c.pdf')); // only in live
    writeFileSync(join(vol, 'z.pdf'), 'z'); // only in volume
    rmSync(join(vol, 'l'));
    symlinkSync('b.pdf', join(vol, 'l'));
    rmSync(join(vol, 'd.pdf'));
    symlinkSync('e.pdf', join(vol, 'd.pdf')); // a link where a file was
    writeFileSync(join(vol, 'f.pdf'), 'DOC F');
    const p = agent('parity', manifest, 'pdfs', live, vol, join(b, 'none.json'));
    expect(p.status).toBe(7);
    expect(oneLine(p)).toBe('parity FAILED for pdfs: 7 differ: a.pdf: size 5 (live) vs 12 (volume); b.pdf: content differs; d.pdf: file (live) vs link (volume); f.pdf: content differs; link l: -> a.pdf (live) vs -> b.pdf (volume); and 2 more\n');
    const v = agent('verify', manifest, 'pdfs', vol);
    expect(v.status).toBe(5);
    expect(oneLine(v)).toBe(`verify FAILED for pdfs in ${vol}: 7 differ: a.pdf: size 12 (found) vs 5 (manifest); b.pdf: content differs; c.pdf: missing; d.pdf: link where the manifest has a file; f.pdf: content differs; and 2 more\n`);
  });

  it('sync-back is safe to run again: a stale part of any kind is removed, KEEP_AS is never overwritten; names, links, owner kept', () => {
    const t = fresh();
    const vol = join(t, 'vol');
    mkdirSync(join(vol, 'sub'), { recursive: true });
    writeFileSync(at(vol, ODD[0]), 'from the containers');
    writeFileSync(join(vol, 'sub', 'doc.pdf'), 'doc');
    symlinkSync('sub/doc.pdf', join(vol, 'l'));
    const live = join(t, 'pdfs');
    const part = `${live}.cutover-part`;
    const keep = `${live}.pre-rollback-R`;
    let round = 0;
    for (const stale of [() => mkdirSync(join(part, 'half'), { recursive: true }), () => writeFileSync(part, 'x'), () => symlinkSync(vol, part)]) {
      mkdirSync(live);
      writeFileSync(join(live, 'old.pdf'), `bare metal ${round}`);
      stale();
      const r = agent('sync-back', vol, live, keep, OWNER);
      expect(r.status, r.stderr.toString()).toBe(0);
      expect(existsSync(part)).toBe(false);
      expect(execFileSync('diff', ['-r', '--no-dereference', vol, live]).toString()).toBe('');
      expect(lstatSync(join(live, 'l'))).toMatchObject({ uid: UID, gid: GID });
      expect(statSync(at(live, ODD[0]))).toMatchObject({ uid: UID, gid: GID });
      const kept = round ? `${keep}.${round}` : keep;
      expect(JSON.parse(r.stdout.toString())).toMatchObject({ sync_back: 'copied', kept });
      expect(readFileSync(join(kept, 'old.pdf'), 'utf8')).toBe(`bare metal ${round}`); // every earlier copy kept
      rmSync(live, { recursive: true });
      round++;
    }
    expect(readFileSync(join(vol, 'sub', 'doc.pdf'), 'utf8')).toBe('doc'); // the stale symlink was removed, not followed

    // a stale part that cannot be removed: one line naming it, LIVE untouched
    if (!isRoot || spawnSync('chattr', ['-h']).error) return;
    mkdirSync(live);
    writeFileSync(join(live, 'old.pdf'), 'bare metal');
    mkdirSync(part);
    writeFileSync(join(part, 'stuck'), '');
    if (spawnSync('chattr', ['+i', join(part, 'stuck')]).status !== 0) return; // no immutable files on this file system
    try {
      const r = agent('sync-back', vol, live, keep, OWNER);
      expect(r.status).not.toBe(0);
      expect(oneLine(r)).toBe(`sync-back: cannot remove ${part} left by an earlier attempt (Operation not permitted): remove it by hand, then retry\n`);
      expect(readFileSync(join(live, 'old.pdf'), 'utf8')).toBe('bare metal');
    } finally {
      spawnSync('chattr', ['-i', join(part, 'stuck')]);
    }
  });

  it('settle stops what a lost session of the run left: its helper containers, then its agent processes, nothing else', () => {
    const t = fresh();
    const run = `RUNX${process.pid}`;
    // a docker CLI stand-in: two helper containers of the run, one ends on its own after the first look
    const bin = join(t, 'bin');
    mkdirSync(bin);
    writeFileSync(join(t, 'containers'), 'quick\nstuck\n');
    writeFileSync(join(bin, 'docker'), `#!/bin/sh
case "$1" in
  ps) echo "$@" >> ${t}/ps-args; cat ${t}/containers; sed -i '/^quick$/d' ${t}/containers ;;
  rm) shift 2; for id in "$@"; do sed -i "/^$id$/d" ${t}/containers; echo "$id" >> ${t}/removed; done ;;
esac
`, { mode: 0o755 });
    const sleeper = (id: string, ignoreTerm = false) => spawn(PY, ['-c', `import signal, time\n${ignoreTerm ? 'signal.signal(signal.SIGTERM, signal.SIG_IGN)\n' : ''}time.sleep(60)`, 'agent.py', id], { stdio: 'ignore' });
    const mine = sleeper(run);
    const stubborn = sleeper(run, true); // ignores SIGTERM: SIGKILL after 10 s
    const other = sleeper(`RUNY${process.pid}`);
    const settle = (PATH: string) => spawnSync(PY, [AGENT, 'settle', run, '1'], { env: { PATH } });
    try {
      execFileSync('sleep', ['0.3']);
      const r = settle(`${bin}:/usr/bin:/bin`);
      expect(r.status, r.stderr.toString()).toBe(0);
      const out = JSON.parse(r.stdout.toString());
      expect(out.settled).toBe(run);
      expect(out.waited).toEqual(['container quick']);
      expect(out.stopped.filter((x: string) => x.startsWith('container'))).toEqual(['container stuck']);
      expect(readFileSync(join(t, 'removed'), 'utf8')).toBe('stuck\n');
      expect(readFileSync(join(t, 'ps-args'), 'utf8').split('\n')[0]).toBe(`ps -q --filter label=io.cutover.run=${run} --filter label=io.cutover.role=helper`);
      const pids = out.stopped.filter((x: string) => x.startsWith('pid')).map((x: string) => Number(x.split(/[ :]/)[1]));
      expect(pids.sort()).toEqual([mine.pid, stubborn.pid].sort());
      const alive = (pid?: number) => existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] !== 'Z';
      expect([alive(mine.pid), alive(stubborn.pid), alive(other.pid)]).toEqual([false, false, true]); // another run's: left alone
      // without a docker CLI: said in the JSON, not fatal
      const nodocker = settle('/nonexistent');
      expect(nodocker.status, nodocker.stderr.toString()).toBe(0);
      expect(JSON.parse(nodocker.stdout.toString())).toMatchObject({ docker: expect.stringMatching(/missing/), stopped: [] });
      // a docker CLI that fails: fatal, one line
      writeFileSync(join(bin, 'docker'), '#!/bin/sh\necho "Cannot connect to the Docker daemon" >&2\nexit 1\n');
      const broken = settle(`${bin}:/usr/bin:/bin`);
      expect(broken.status).toBe(1);
      expect(oneLine(broken)).toBe('settle: docker ps failed (exit 1): Cannot connect to the Docker daemon\n');
    } finally {
      for (const p of [mine, stubborn, other]) p.kill('SIGKILL');
    }
  }, 30_000);
  it('the per-step commands: restore empties, unpacks, owns and verifies; verify-all, delta-all, parity-all, sync-back-all cover every set; keep-volume records', () => {
    const root = fresh();
    const live = join(root, 'mlive');
    mkdirSync(join(live, 'a'), { recursive: true });
    writeFileSync(join(live, 'a', 'one.pdf'), 'one');
    symlinkSync('a/one.pdf', join(live, 'link'));
    execFileSync('sleep', ['0.2']);
    const b = join(root, 'mb');
    mkdirSync(b);
    expect(agent('tar-stream', live, join(b, 'pdfs.tar')).status).toBe(0);
    expect(agent('merge-manifest', b, 'pdfs').status).toBe(0);
    const vol = join(root, 'mvol');
    mkdirSync(vol);
    writeFileSync(join(vol, 'stale-from-an-earlier-attempt'), 'x');
    const me = `${process.getuid!()}:${process.getgid!()}`;
    const r = agent('restore', join(b, 'pdfs.tar'), vol, me, join(b, 'manifest.json'), 'pdfs', join(b, 'restored', 'pdfs.stat.json'));
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(readdirSync(vol).sort()).toEqual(['a', 'link']);
    expect(readlinkSync(join(vol, 'link'))).toBe('a/one.pdf');
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ verified: 'pdfs', files: 2 });
    expect(agent('verify-all', join(b, 'manifest.json'), `pdfs=${vol}`).status).toBe(0);
    // a restore that does not verify fails, naming the file
    writeFileSync(join(vol, 'a', 'one.pdf'), 'ONE');
    const bad = agent('verify-all', join(b, 'manifest.json'), `pdfs=${vol}`);
    expect(bad.status).toBe(5);
    expect(bad.stderr.toString()).toMatch(/a\/one\.pdf/);
    writeFileSync(join(vol, 'a', 'one.pdf'), 'one');
    // delta-all then parity-all (in parallel processes): equal after the delta; a difference fails it
    execFileSync('sleep', ['0.2']);
    writeFileSync(join(live, 'a', 'two.pdf'), 'two');
    expect(agent('parity-all', join(b, 'manifest.json'), join(b, 'restored'), `pdfs=${live}=${vol}`).status).toBe(7);
    const d = agent('delta-all', join(b, 'manifest.json'), me, `pdfs=${live}=${vol}`);
    expect(d.status, d.stderr.toString()).toBe(0);
    const p = agent('parity-all', join(b, 'manifest.json'), join(b, 'restored'), `pdfs=${live}=${vol}`);
    expect(p.status, p.stderr.toString()).toBe(0);
    // sync-back-all: the container's writes come back, the old live dir is kept beside it
    writeFileSync(join(vol, 'a', 'written-by-container.pdf'), 'new');
    const sb = agent('sync-back-all', 'RUN1', `${vol}=${live}`);
    expect(sb.status, sb.stderr.toString()).toBe(0);
    expect(readFileSync(join(live, 'a', 'written-by-container.pdf'), 'utf8')).toBe('new');
    expect(existsSync(join(root, 'mlive.pre-rollback-RUN1', 'a', 'two.pdf'))).toBe(true);
    // keep-volume
    expect(agent('keep-volume', join(root, 'kept'), 'chatbot_pdfs', 'RUN1').status).toBe(0);
    expect(readFileSync(join(root, 'kept', 'chatbot_pdfs'), 'utf8')).toBe('RUN1\n');
    expect(agent('delta-all', 'm', me, 'no-equals').stderr.toString()).toMatch(/delta-all: no-equals is not X=X=X/);
  });
});
