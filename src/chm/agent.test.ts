import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

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
    expect(bad.stderr.toString()).toMatch(/1 missing or different \(Annual Report 2023\.pdf\)/);
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
    expect(Object.keys(m.files).sort()).toEqual([long, 'empty', 'exact-512', 'script.sh'].sort());
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
    expect(bad.stderr.toString()).toMatch(/1 files differ \(sub\/d3\.pdf\)/);

    // A forged proof (the stat file claims the changed file is as verified): only the sample sees it.
    // (in Python: nanosecond times do not fit a JS number)
    execFileSync('python3', ['-c', 'import os,sys,time,json; p,v=sys.argv[1:]; d=json.load(open(p)); s=os.stat(v); d["sub/d3.pdf"]=[s.st_size, s.st_mtime_ns, s.st_ctime_ns, time.time_ns() + 10**10]; json.dump(d, open(p, "w"))', stat, victim]);
    expect(parity('0').status).toBe(0); // no sample: the forged proof is believed
    expect(parity('64').status).toBe(7); // the sample (everything, here) catches it
  });
});
