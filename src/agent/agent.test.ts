import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildHostTool } from '../engine/host-tool.ts';
import { AGENT, ENV, ODD, agent, at, sha } from './testing.ts';

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
    expect(bad.stderr.toString()).toBe(
      `verify FAILED for pdfs in ${dst}: 1 differ: Annual Report 2023.pdf: size 17 (found) vs 12 (manifest)\n`,
    );
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
    expect(
      execFileSync('stat', ['-c', '%a', join(x, 'script.sh')])
        .toString()
        .trim(),
    ).toBe('750');
    expect(
      execFileSync('readlink', [join(x, 'link')])
        .toString()
        .trim(),
    ).toBe('script.sh');
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
    execFileSync('python3', [
      '-c',
      'import os,sys,time,json; p,v=sys.argv[1:]; d=json.load(open(p)); s=os.stat(v); d["sub/d3.pdf"]=[s.st_size, s.st_mtime_ns, s.st_ctime_ns, time.time_ns() + 10**10]; json.dump(d, open(p, "w"))',
      stat,
      victim,
    ]);
    expect(parity('0').status).toBe(0); // no sample: the forged proof is believed
    expect(parity('64').status).toBe(7); // the sample (everything, here) catches it
  });

  it('a restore verified at once (its chown just changed every ctime) still lets parity prove every file by stat', () => {
    const live = join(root, 'rlive');
    mkdirSync(live);
    for (let i = 0; i < 200; i++) writeFileSync(join(live, `r${i}.pdf`), `document ${i}`);
    execFileSync('sleep', ['0.2']); // the live side's reads are past the granularity window
    const b = join(root, 'rb');
    const vol = join(root, 'rvol');
    mkdirSync(b);
    mkdirSync(vol);
    expect(agent('tar-stream', live, join(b, 'pdfs.tar')).status).toBe(0);
    expect(agent('merge-manifest', b, 'pdfs').status).toBe(0);
    const stat = join(b, 'restored', 'pdfs.stat.json');
    const me = `${process.getuid!()}:${process.getgid!()}`;
    // unpack, chown and verify in one command, as volumes.restore does: no pause between them
    const r = agent('restore', join(b, 'pdfs.tar'), vol, me, join(b, 'manifest.json'), 'pdfs', stat);
    expect(r.status, r.stderr.toString()).toBe(0);
    const ok = agent('parity', join(b, 'manifest.json'), 'pdfs', live, vol, stat, '0');
    expect(ok.status, ok.stderr.toString()).toBe(0);
    expect(JSON.parse(ok.stdout.toString())).toMatchObject({ files: 200, proven_by_stat: 200, hashed: 0 });
  });
});

describe('the agent as the runbook ships it: src/agent as one zip (buildHostTool), python3 agent.pyz', () => {
  const root = mkdtempSync(join(tmpdir(), 'agent-zip-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const zip = join(root, 'agent.pyz');
  writeFileSync(zip, buildHostTool(AGENT).bundle, { mode: 0o755 });
  const fromZip = (...args: string[]) => spawnSync('python3', [zip, ...args], { maxBuffer: 64 << 20, env: ENV });
  const modules = readdirSync(AGENT)
    .filter((f) => f.endsWith('.py'))
    .sort();

  it('holds every module of the package, none named like a standard module (the dir or zip is first on sys.path)', () => {
    const listed = execFileSync('python3', [
      '-c',
      'import sys, zipfile; print(*zipfile.ZipFile(sys.argv[1]).namelist())',
      zip,
    ])
      .toString()
      .trim()
      .split(' ');
    expect(listed).toEqual(modules);
    expect(listed).toContain('__main__.py');
    const clash = execFileSync('python3', [
      '-c',
      'import sys; print(*sorted(set(sys.argv[1:]) & sys.stdlib_module_names))',
      ...modules.map((m) => m.replace(/\.py$/, '')),
    ]);
    expect(clash.toString()).toBe('\n');
  });

  it('tar-stream, merge-manifest, verify-all and parity-all (its parallel processes run the zip too) from the zip', () => {
    const live = join(root, 'live');
    mkdirSync(join(live, 'sub'), { recursive: true });
    writeFileSync(join(live, 'a.pdf'), 'doc a');
    writeFileSync(at(join(live, 'sub'), ODD[0]), 'not UTF-8');
    const b = join(root, 'b');
    mkdirSync(b);
    const r = fromZip('tar-stream', live, join(b, 'pdfs.tar'));
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(sha(r.stdout)).toBe(sha(readFileSync(join(b, 'pdfs.tar'))));
    expect(fromZip('merge-manifest', b, 'pdfs').status).toBe(0);
    const vol = join(root, 'vol');
    mkdirSync(vol);
    execFileSync('tar', ['--warning=no-unknown-keyword', '-xf', join(b, 'pdfs.tar'), '-C', vol]);
    const v = fromZip('verify-all', join(b, 'manifest.json'), `pdfs=${vol}`);
    expect(v.status, v.stderr.toString()).toBe(0);
    expect(JSON.parse(v.stdout.toString())).toEqual({ verified: 'pdfs', files: 2 });
    const p = fromZip('parity-all', join(b, 'manifest.json'), join(b, 'restored'), `pdfs=${live}=${vol}`);
    expect(p.status, p.stderr.toString()).toBe(0);
    expect(JSON.parse(p.stdout.toString())).toMatchObject({ parity: 'pdfs', files: 2 });
    writeFileSync(join(vol, 'a.pdf'), 'DOC A');
    const bad = fromZip('parity-all', join(b, 'manifest.json'), join(b, 'restored'), `pdfs=${live}=${vol}`);
    expect(bad.status).toBe(7);
    expect(bad.stderr.toString()).toBe('parity FAILED for pdfs: 1 differ: a.pdf: content differs\n');
  });

  it('a host whose file system encoding is not UTF-8: the zip and the dir run themselves again in UTF-8 mode (same names in the manifest)', () => {
    const env = {
      PATH: process.env.PATH,
      LC_ALL: 'C',
      PYTHONUTF8: '0',
      PYTHONCOERCECLOCALE: '0',
      PYTHONDONTWRITEBYTECODE: '1',
    };
    expect(execFileSync('python3', ['-c', 'import sys; print(sys.getfilesystemencoding())'], { env }).toString()).toBe(
      'ascii\n',
    );
    const live = join(root, 'locale');
    mkdirSync(live);
    writeFileSync(join(live, 'Übersicht.pdf'), 'ü');
    writeFileSync(at(live, ODD[0]), 'not UTF-8');
    for (const [how, argv] of [
      ['zip', [zip]],
      ['dir', [AGENT]],
    ] as const) {
      const out = join(root, `locale-${how}.tar`);
      const r = spawnSync('python3', [...argv, 'tar-stream', live, out], { env, maxBuffer: 64 << 20 });
      expect(r.status, r.stderr.toString()).toBe(0);
      const m = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8'));
      expect(Object.keys(m.files).sort(), how).toEqual(['Übersicht.pdf', '\udcff\udcfe.pdf']);
    }
  });
});
