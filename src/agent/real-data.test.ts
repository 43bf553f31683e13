import { execFileSync } from 'node:child_process';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  agent,
  OWNER,
  at,
  names,
  oneLine,
  shaFile,
  sparseFile,
  members,
  chromaDir,
  ODD,
  tempDirs,
  sha,
} from './testing.ts';

describe('host agent on what real hosts have: names, symlinks, sparse files, hard links', () => {
  const { fresh, backup } = tempDirs('agent-data-');

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
    expect(Object.keys(m.files).sort()).toEqual(
      [
        'back\\slash.pdf',
        'link-\udcff\udcfe.pdf',
        'new\nline.pdf',
        'r\udce9sum\udce9.pdf',
        'sub/\udcff\udcfe.pdf',
        '\udcff\udcfe.pdf',
      ].sort(),
    );

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
    expect(oneLine(bad)).toBe(
      `verify FAILED for pdfs in ${vol}: 2 differ: new\\x0aline.pdf: content differs; \\xff\\xfe.pdf: content differs\n`,
    );

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
    expect(Object.keys(JSON.parse(readFileSync(join(t, 'stage', 'chroma.live-stat.json'), 'utf8')))).toContain(
      'seg/\udcff\udcfe.pdf',
    );
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
    expect(m.files).toMatchObject({
      rel: { link: 'doc.pdf' },
      abs: { link: '/etc/hostname' },
      gone: { link: '/nonexistent/x' },
      dirlink: { link: 'sub' },
    });
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
    expect(oneLine(v)).toBe(
      `verify FAILED for pdfs in ${vol}: 1 differ: link rel: -> doc.pdf (manifest) vs -> other.pdf (found)\n`,
    );
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
      const recs = ms[i].body
        .toString('latin1')
        .split('\n')
        .filter((r) => r.includes('GNU.sparse'));
      return { recs, body: ms[i + 1].body, name: ms[i + 1].name };
    };
    const ours = sparseOf(readFileSync(join(b, 'pdfs.tar')));
    const gnu = sparseOf(readFileSync(join(t, 'gnu.tar')));
    expect(ours.recs).toEqual(gnu.recs);
    expect(ours.recs).toEqual([
      '22 GNU.sparse.major=1',
      '22 GNU.sparse.minor=0',
      '29 GNU.sparse.name=./big.img',
      '34 GNU.sparse.realsize=1073741824',
    ]);
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
    const group = (dir: string, ...ps: string[]) =>
      ps.map((p) => `${statSync(join(dir, p)).ino}/${statSync(join(dir, p)).nlink}`);
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
});
