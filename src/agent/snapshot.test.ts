import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agent, PY, isRoot, oneLine, chromaDir, tempDirs } from './testing.ts';

describe('host agent on what real hosts have: a live ChromaDB, a full disk', () => {
  const { fresh } = tempDirs('agent-snapshot-');

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
  const consistency = (dir: string) =>
    execFileSync(PY, [
      '-c',
      'import sqlite3,sys; d=sys.argv[1]; c=sqlite3.connect(d+"/chroma.sqlite3"); print(c.execute("pragma integrity_check").fetchone()[0], *c.execute("select max(i), count(*) from t").fetchone(), open(d+"/seg/header.bin").read(), open(d+"/seg/data_level0.bin").read().split()[-1])',
      dir,
    ])
      .toString()
      .trim()
      .split(' ');

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
      const r = agent(
        'snapshot',
        chroma,
        join(t, 'stage'),
        '--attempts',
        '2',
        '--pause',
        `touch ${ctl}/pause; while [ ! -e ${ctl}/paused ]; do sleep 0.01; done`,
        '--resume',
        `rm -f ${ctl}/pause ${ctl}/paused`,
      );
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
    const f = agent(
      'snapshot',
      chroma,
      join(t, 'stage'),
      '--attempts',
      '0',
      '--pause',
      `mv ${chroma}/chroma.sqlite3 ${t}/`,
      '--resume',
      `touch ${t}/resumed`,
    );
    expect(f.status).toBe(1);
    expect(oneLine(f)).toMatch(/chroma\.sqlite3 does not exist/);
    expect(existsSync(join(t, 'resumed'))).toBe(true);
    expect(existsSync(join(t, 'stage'))).toBe(false);
    execFileSync('mv', [join(t, 'chroma.sqlite3'), chroma]);
    // SIGTERM (the SSH session went away) while paused
    const k = agent(
      'snapshot',
      chroma,
      join(t, 'stage'),
      '--attempts',
      '0',
      '--pause',
      'kill -TERM $PPID; sleep 1',
      '--resume',
      `touch ${t}/resumed2`,
    );
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
    execFileSync(PY, [
      '-c',
      'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("create table t(x blob)"); c.executemany("insert into t values (randomblob(4000))", [()]*3000); c.commit()',
      join(chroma, 'chroma.sqlite3'),
    ]);
    const r = agent('snapshot', chroma, join(t, 'stage'));
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ attempts: 1, paused_ms: null, files: 1 });
    const check =
      'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("pragma integrity_check").fetchone()[0], c.execute("select count(*), sum(length(x)) from t").fetchone())';
    expect(execFileSync(PY, ['-c', check, join(t, 'stage', 'chroma.sqlite3')]).toString()).toBe(
      'ok (3000, 12000000)\n',
    );
    const old = agent('snapshot', chroma, join(t, 'stage2'), 'http://127.0.0.1:8000/stats', join(t, 'stats.json'));
    expect(old.status).toBe(2);
    expect(oneLine(old)).toMatch(
      /^usage: snapshot SRC_CHROMA DEST_CHROMA \[--pause SH_CMD --resume SH_CMD\] \[--attempts N\]/,
    );
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
      expect(oneLine(r)).toMatch(
        new RegExp(
          `^tar-stream: host disk full writing ${full}/pdfs\\.tar\\.part after \\d+\\.\\d MB \\(the source is 5\\.0 MB\\): free space on the host, then retry\n$`,
        ),
      );
      expect(readdirSync(full)).toEqual([]);
      const s = agent('snapshot', chroma, join(full, 'chroma'));
      expect(s.status).toBe(28);
      expect(oneLine(s)).toMatch(
        /^snapshot: host disk full writing .*index\.bin after .* \(the source is 3\.\d MB\): free space on the host, then retry\n$/,
      );
      expect(readdirSync(full)).toEqual([]);
    } finally {
      execFileSync('umount', [full]);
    }
  });

  it.runIf(isRoot)(
    'a disk that fills after the archive, while its manifest is written: the same one line, naming it',
    () => {
      const t = fresh();
      const src = join(t, 'src');
      mkdirSync(src);
      for (let i = 0; i < 400; i++) writeFileSync(join(src, `transcript-${i}-${'x'.repeat(40)}.txt`), '');
      agent('tar-stream', src, join(t, 'roomy.tar'));
      const archive = statSync(join(t, 'roomy.tar')).size;
      expect(statSync(join(t, 'roomy.tar.manifest.json')).size).toBeGreaterThan(3 * 4096);
      const full = join(t, 'full');
      mkdirSync(full);
      const size = Math.ceil(archive / 4096) * 4096 + 4096; // the archive fits, its manifest does not
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', full]);
      try {
        const r = agent('tar-stream', src, join(full, 'pdfs.tar'));
        expect(r.status).toBe(28);
        expect(oneLine(r)).toMatch(
          new RegExp(
            `^tar-stream: host disk full writing ${full}/pdfs\\.tar\\.manifest\\.json\\.part after .*: free space on the host, then retry\n$`,
          ),
        );
        expect(readdirSync(full)).toEqual([]);
      } finally {
        execFileSync('umount', [full]);
      }
    },
  );
});
