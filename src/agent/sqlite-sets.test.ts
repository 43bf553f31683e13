import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  closeSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agent, chromaDir, members, OWNER, oneLine, PY, shaFile, tempDirs } from './testing.ts';

// A data set holding any SQLite databases (an app's app.db in WAL mode, written many times a second,
// and a rollback-journal one in a subdirectory) beside an uploads tree: snapshot --find-dbs, tar-stream,
// restore, delta, parity and sync-back know its databases from the snapshot and the manifest.
describe('host agent on data sets with any SQLite databases', () => {
  const { fresh } = tempDirs('agent-sqlite-sets-');

  /** The app: commits one row (id 1, 2, 3 ...) to DB about 200 times a second, in WAL mode, until killed. */
  const WRITER = `
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("pragma journal_mode=wal")
db.execute("create table if not exists t(id integer primary key, v text)")
i = db.execute("select coalesce(max(id), 0) from t").fetchone()[0]
open(sys.argv[2], "w").close()
while True:
    i += 1
    db.execute("insert into t values (?, ?)", (i, "row %d" % i))
    time.sleep(0.005)
`;
  /** integrity_check, row count, max id and journal mode of the database at P (read through its WAL, if any;
   * read-only: a read-write connection would checkpoint the WAL into the file when it closes). */
  const rows = (p: string, table = 't') =>
    execFileSync(PY, [
      '-c',
      `import sqlite3,sys; c=sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True); print(c.execute("pragma integrity_check").fetchone()[0], *c.execute("select count(*), coalesce(max(rowid), 0) from ${table}").fetchone(), c.execute("pragma journal_mode").fetchone()[0])`,
      p,
    ])
      .toString()
      .trim()
      .split(' ');
  const sql = (p: string, ...stmts: string[]) =>
    execFileSync(PY, [
      '-c',
      'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [c.execute(s) for s in sys.argv[2:]]; c.commit()',
      p,
      ...stmts,
    ]);
  /** A dir with sub/other.sqlite (rollback journal, 50 rows) and an uploads tree, a plain file named like a journal among them. */
  const appDir = (live: string) => {
    mkdirSync(join(live, 'sub'), { recursive: true });
    mkdirSync(join(live, 'uploads', '2024'), { recursive: true });
    sql(
      join(live, 'sub', 'other.sqlite'),
      'create table o(id integer primary key, b blob)',
      ...Array.from({ length: 50 }, (_, i) => `insert into o values (${i + 1}, randomblob(300))`),
    );
    writeFileSync(join(live, 'uploads', 'a.pdf'), '%PDF-1.4 a');
    writeFileSync(join(live, 'uploads', '2024', 'b.pdf'), randomBytes(200_000));
    writeFileSync(join(live, 'uploads', 'notes-journal'), 'not a database: bytes');
  };
  const waitFor = (p: string) => {
    for (let i = 0; i < 200 && !existsSync(p); i++) execFileSync('sleep', ['0.05']);
    expect(existsSync(p)).toBe(true);
  };

  it('snapshot --find-dbs under a writer at 200 commits/s, tar-stream, restore, delta and parity: every committed row arrives, no WAL is copied as bytes', async () => {
    const t = fresh();
    const live = join(t, 'live');
    appDir(live);
    writeFileSync(join(t, 'writer.py'), WRITER);
    const app = spawn(PY, [join(t, 'writer.py'), join(live, 'app.db'), join(t, 'ready')], { stdio: 'ignore' });
    const exited = new Promise((done) => app.on('exit', done));
    const stage = join(t, 'stage', 'app');
    const b = join(t, 'b');
    const manifest = join(b, 'manifest.json');
    const vol = join(t, 'vol');
    try {
      waitFor(join(t, 'ready'));
      execFileSync('sleep', ['0.5']);
      const [, before] = rows(join(live, 'app.db'));
      expect(Number(before)).toBeGreaterThan(10);
      expect(existsSync(join(live, 'app.db-wal'))).toBe(true); // the commits are in the WAL, not yet in app.db

      // snapshot: both databases found by header and copied by the backup API, of one moment with the uploads
      const snap = agent('snapshot', live, stage, '--find-dbs', '--attempts', '5');
      expect(snap.status, snap.stderr.toString()).toBe(0);
      expect(JSON.parse(snap.stdout.toString())).toMatchObject({
        databases: ['app.db', 'sub/other.sqlite'],
        files: 5,
        paused_ms: null,
      });
      expect(readdirSync(stage).sort()).toEqual(['app.db', 'sub', 'uploads']); // no -wal, -shm
      const [ok, count, max, mode] = rows(join(stage, 'app.db'));
      expect([ok, count, mode]).toEqual(['ok', max, 'delete']); // a byte copy of app.db would say wal, and miss the WAL's rows
      expect(Number(count)).toBeGreaterThanOrEqual(Number(before));
      expect(rows(join(stage, 'sub', 'other.sqlite'), 'o')).toEqual(['ok', '50', '50', 'delete']);
      const stat = JSON.parse(readFileSync(`${stage}.live-stat.json`, 'utf8'));
      expect(stat['/sqlite']).toEqual({ dbs: ['app.db', 'sub/other.sqlite'], find: true });
      expect(Object.keys(stat)).toContain('uploads/2024/b.pdf');

      // tar-stream with the live stat: the manifest marks the databases; nothing of a WAL in the archive
      mkdirSync(b);
      const ts = agent('tar-stream', stage, join(b, 'app.tar'), `${stage}.live-stat.json`);
      expect(ts.status, ts.stderr.toString()).toBe(0);
      expect(agent('merge-manifest', b, 'app').status).toBe(0);
      const m = JSON.parse(readFileSync(manifest, 'utf8')).archives.app;
      expect(m.find_dbs).toBe(true);
      expect(
        Object.keys(m.files)
          .filter((r) => m.files[r].sqlite)
          .sort(),
      ).toEqual(['app.db', 'sub/other.sqlite']);
      expect(m.files['app.db'].logical).toMatch(/^[0-9a-f]{64}$/);
      expect(m.files['uploads/notes-journal'].sqlite).toBeUndefined();
      expect(
        members(readFileSync(join(b, 'app.tar')))
          .map((x) => x.name)
          .filter((n) => /-(wal|shm)$/.test(n)),
      ).toEqual([]);
      // the same live dir streamed as a plain files data set is bytes: its WAL among them, no database known
      const plain = agent('tar-stream', live, join(t, 'plain.tar'));
      expect(plain.status, plain.stderr.toString()).toBe(0);
      const pm = JSON.parse(readFileSync(join(t, 'plain.tar.manifest.json'), 'utf8'));
      expect(pm.find_dbs).toBe(false);
      expect(Object.keys(pm.files)).toContain('app.db-wal');
      expect(Object.values(pm.files).filter((e) => (e as { sqlite?: boolean }).sqlite)).toEqual([]);

      // restore (verify: files by sha256, databases logically too)
      mkdirSync(vol);
      const volStat = join(b, 'restored', 'app.stat.json');
      const rs = agent('restore', join(b, 'app.tar'), vol, OWNER, manifest, 'app', volStat);
      expect(rs.status, rs.stderr.toString()).toBe(0);
      expect(rows(join(vol, 'app.db'))).toEqual(['ok', count, max, 'delete']);

      // after the backup: a new WAL database (its writer gone, its rows only in late.db-wal), a new upload
      execFileSync(PY, [
        '-c',
        'import os,sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("pragma journal_mode=wal"); c.execute("create table t(id integer primary key)"); [c.execute("insert into t values (?)", (i + 1,)) for i in range(30)]; os._exit(0)',
        join(live, 'late.db'),
      ]);
      expect(existsSync(join(live, 'late.db-wal'))).toBe(true);
      writeFileSync(join(live, 'uploads', 'c.pdf'), '%PDF-1.4 c');
    } finally {
      app.kill('SIGKILL'); // the cutover stops the writers; a killed one leaves its commits in app.db-wal
    }
    await exited;
    {
      expect(existsSync(join(live, 'app.db-wal'))).toBe(true);
      const [, lastCount, lastId] = rows(join(live, 'app.db'));
      expect(lastCount).toBe(lastId);
      expect(existsSync(join(live, 'app.db-wal'))).toBe(true);
      const d = agent('delta', manifest, 'app', live, vol);
      expect(d.status, d.stderr.toString()).toBe(0);
      expect(JSON.parse(d.stdout.toString())).toMatchObject({ databases: 3, added: 1 });
      // every row the writer committed, none lost, and no WAL or shm beside the fresh copies
      expect(rows(join(vol, 'app.db'))).toEqual(['ok', lastId, lastId, 'delete']);
      expect(rows(join(vol, 'late.db'))).toEqual(['ok', '30', '30', 'delete']);
      expect(readdirSync(vol).sort()).toEqual(['app.db', 'late.db', 'sub', 'uploads']);
      expect(shaFile(join(vol, 'uploads', 'c.pdf'))).toBe(shaFile(join(live, 'uploads', 'c.pdf')));

      // parity: the databases logically (the bytes differ: the live app.db holds its rows in the WAL)
      const p = agent('parity', manifest, 'app', live, vol, join(b, 'restored', 'app.stat.json'));
      expect(p.status, p.stderr.toString()).toBe(0);
      expect(JSON.parse(p.stdout.toString())).toMatchObject({ parity: 'app', databases: 3 });
      expect(shaFile(join(vol, 'app.db'))).not.toBe(shaFile(join(live, 'app.db')));
      sql(join(vol, 'app.db'), "update t set v = 'changed' where id = 1");
      const bad = agent('parity', manifest, 'app', live, vol, join(b, 'restored', 'app.stat.json'));
      expect(bad.status).toBe(7);
      expect(oneLine(bad)).toBe('parity FAILED for app: 1 differ: app.db: database content differs\n');
    }
  }, 60_000);

  it('a database its writer closed: the delta writes only the blocks that differ (again: none), parity compares its pages', () => {
    const t = fresh();
    const live = join(t, 'live');
    mkdirSync(live);
    execFileSync(PY, [
      '-c',
      'import sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("pragma journal_mode=wal"); c.execute("create table t(id integer primary key, v blob)"); c.executemany("insert into t values (?, randomblob(500))", [(i,) for i in range(4000)]); c.close()',
      join(live, 'app.db'),
    ]);
    const stage = join(t, 'stage');
    expect(agent('snapshot', live, stage, '--find-dbs').status).toBe(0);
    const b = join(t, 'b');
    mkdirSync(b);
    expect(agent('tar-stream', stage, join(b, 'app.tar'), `${stage}.live-stat.json`).status).toBe(0);
    expect(agent('merge-manifest', b, 'app').status).toBe(0);
    const [manifest, vol, volStat] = [join(b, 'manifest.json'), join(t, 'vol'), join(b, 'restored', 'app.stat.json')];
    mkdirSync(vol);
    expect(agent('restore', join(b, 'app.tar'), vol, OWNER, manifest, 'app', volStat).status).toBe(0);
    // after the backup: ten rows changed, the writer closed the database (no WAL left); an old WAL in the volume
    sql(
      join(live, 'app.db'),
      ...Array.from({ length: 10 }, (_, i) => `update t set v = randomblob(500) where id = ${i * 400}`),
    );
    expect(existsSync(join(live, 'app.db-wal'))).toBe(false);
    writeFileSync(join(vol, 'app.db-wal'), randomBytes(4096));
    const d = agent('delta', manifest, 'app', live, vol);
    expect(d.status, d.stderr.toString()).toBe(0);
    const size = readFileSync(join(live, 'app.db')).length;
    const out = JSON.parse(d.stdout.toString());
    expect(out).toMatchObject({ databases: 1, patched: 1 });
    expect(out.bytes).toBeGreaterThan(0);
    expect(out.bytes).toBeLessThan(size / 4);
    expect(shaFile(join(vol, 'app.db'))).toBe(shaFile(join(live, 'app.db')));
    expect(readdirSync(vol)).toEqual(['app.db']); // the volume's old WAL removed before, never applied to the new bytes
    expect(rows(join(vol, 'app.db'))).toEqual(['ok', '4000', '3999', 'wal']);
    const again = agent('delta', manifest, 'app', live, vol);
    expect(JSON.parse(again.stdout.toString())).toMatchObject({ databases: 1, patched: 1, bytes: 0 });
    const p = agent('parity', manifest, 'app', live, vol, volStat);
    expect(p.status, p.stderr.toString()).toBe(0);
    expect(JSON.parse(p.stdout.toString())).toMatchObject({ databases: 1, databases_by_pages: 1 });
    // one row changed in the volume: neither its pages nor its content are the live database's
    sql(join(vol, 'app.db'), "update t set v = x'00' where id = 1");
    expect(agent('parity', manifest, 'app', live, vol, volStat).status).toBe(7);
  });

  it('snapshot --db names its databases: a missing or non-SQLite one is one line, exit 1, nothing written; --find-dbs may find none', () => {
    const t = fresh();
    const live = join(t, 'live');
    appDir(live);
    sql(join(live, 'app.db'), 'create table t(id integer primary key, v text)', "insert into t values (1, 'one')");
    const missing = agent('snapshot', live, join(t, 'stage'), '--db', 'nope.db');
    expect(missing.status).toBe(1);
    expect(oneLine(missing)).toBe(`snapshot: --db nope.db: no such file in ${live}\n`);
    const notDb = agent('snapshot', live, join(t, 'stage'), '--db', 'app.db', '--db', 'uploads/a.pdf');
    expect(notDb.status).toBe(1);
    expect(oneLine(notDb)).toBe(
      `snapshot: --db uploads/a.pdf: ${live}/uploads/a.pdf is not a SQLite database (no "SQLite format 3" header)\n`,
    );
    const dir = agent('snapshot', live, join(t, 'stage'), '--db', 'sub');
    expect(dir.status).toBe(1);
    expect(oneLine(dir)).toBe(`snapshot: --db sub: no such file in ${live}\n`);
    expect(agent('snapshot', live, join(t, 'stage'), '--db').status).toBe(2);
    expect(existsSync(join(t, 'stage'))).toBe(false);
    expect(existsSync(join(t, 'stage.live-stat.json'))).toBe(false);
    // without --db or --find-dbs: ChromaDB's, refused as always
    const chroma = agent('snapshot', live, join(t, 'stage'));
    expect(chroma.status).toBe(1);
    expect(oneLine(chroma)).toBe(`snapshot: ${live} has no chroma.sqlite3: is it the ChromaDB dir?\n`);
    // named: only those are databases (other.sqlite is then a file, copied as bytes)
    const named = agent('snapshot', live, join(t, 'stage'), '--db', './app.db');
    expect(named.status, named.stderr.toString()).toBe(0);
    expect(JSON.parse(named.stdout.toString())).toMatchObject({ databases: ['app.db'], files: 5 });
    expect(JSON.parse(readFileSync(join(t, 'stage.live-stat.json'), 'utf8'))['/sqlite']).toEqual({
      dbs: ['app.db'],
      find: false,
    });
    // --find-dbs in a dir without any: fine, and its archive has none
    const none = join(t, 'uploads-only');
    execFileSync('cp', ['-a', join(live, 'uploads'), none]);
    const found = agent('snapshot', none, join(t, 'stage2'), '--find-dbs');
    expect(found.status, found.stderr.toString()).toBe(0);
    expect(JSON.parse(found.stdout.toString())).toMatchObject({ databases: [], files: 3 });
    expect(agent('tar-stream', join(t, 'stage2'), join(t, 'u.tar'), join(t, 'stage2.live-stat.json')).status).toBe(0);
    const um = JSON.parse(readFileSync(join(t, 'u.tar.manifest.json'), 'utf8'));
    expect(um.find_dbs).toBe(true);
    expect(Object.values(um.files).filter((e) => (e as { sqlite?: boolean }).sqlite)).toEqual([]);
  });

  it('sync-back refuses a volume whose app.db is corrupt (exit 8, one line), the live dir untouched; a sound one comes back', () => {
    const t = fresh();
    const vol = join(t, 'vol');
    appDir(vol);
    sql(
      join(vol, 'app.db'),
      'create table t(id integer primary key, v text)',
      ...Array.from({ length: 400 }, (_, i) => `insert into t values (${i + 1}, '${'x'.repeat(100)}')`),
    );
    const live = join(t, 'app');
    execFileSync('cp', ['-a', vol, live]);
    sql(join(vol, 'app.db'), "insert into t values (401, 'written by the container')");
    const ok = agent('sync-back', vol, live, join(t, 'app.kept'), OWNER);
    expect(ok.status, ok.stderr.toString()).toBe(0);
    expect(rows(join(live, 'app.db'))).toEqual(['ok', '401', '401', 'delete']);

    // the container's app.db corrupted (pages 2 and 3 overwritten): refused, bare metal left as it was
    sql(join(vol, 'app.db'), "insert into t values (402, 'then corrupted')");
    const fd = openSync(join(vol, 'app.db'), 'r+');
    writeSync(fd, randomBytes(8192), 0, 8192, 4096);
    closeSync(fd);
    const listing = () =>
      execFileSync('sh', ['-c', 'cd "$1" && find . -type f -exec sha256sum {} + | sort', 'sh', live]).toString();
    const before = listing();
    const r = agent('sync-back', vol, live, join(t, 'app.kept'), OWNER);
    expect(r.status).toBe(8);
    expect(oneLine(r)).toMatch(
      new RegExp(
        `^refusing to sync ${vol} back to ${live}: its SQLite database app\\.db is not sound \\(.+\\); bare metal left untouched\n$`,
      ),
    );
    expect(listing()).toBe(before);
    expect(readdirSync(t).sort()).toEqual(['app', 'app.kept', 'vol']); // nothing kept a second time, no part left
    expect(rows(join(live, 'app.db'))).toEqual(['ok', '401', '401', 'delete']);
  });

  it('ChromaDB as before: the default snapshot records chroma.sqlite3; an old live-stat and an old manifest still mean it', () => {
    const t = fresh();
    const live = join(t, 'chroma');
    chromaDir(live, 5);
    writeFileSync(join(live, 'index.bin'), 'index');
    const stage = join(t, 'stage', 'chroma_db');
    expect(agent('snapshot', live, stage, '--attempts', '2').status).toBe(0);
    const statFile = `${stage}.live-stat.json`;
    const stat = JSON.parse(readFileSync(statFile, 'utf8'));
    expect(stat['/sqlite']).toEqual({ dbs: ['chroma.sqlite3'], find: false });
    // a live-stat written before databases were recorded: still chroma.sqlite3
    delete stat['/sqlite'];
    writeFileSync(statFile, JSON.stringify(stat));
    const b = join(t, 'b');
    mkdirSync(b);
    expect(agent('tar-stream', stage, join(b, 'chroma.tar'), statFile).status).toBe(0);
    expect(agent('merge-manifest', b, 'chroma').status).toBe(0);
    const manifest = join(b, 'manifest.json');
    const all = JSON.parse(readFileSync(manifest, 'utf8'));
    expect(all.archives.chroma.files['chroma.sqlite3']).toMatchObject({ sqlite: true });
    expect(all.archives.chroma.files['index.bin'].sqlite).toBeUndefined();
    const vol = join(t, 'vol');
    mkdirSync(vol);
    expect(agent('restore', join(b, 'chroma.tar'), vol, OWNER, manifest, 'chroma').status).toBe(0);
    // a manifest written before databases were marked: chroma.sqlite3 by its name, as then
    delete all.archives.chroma.find_dbs;
    delete all.archives.chroma.files['chroma.sqlite3'].sqlite;
    writeFileSync(manifest, JSON.stringify(all));
    execFileSync(PY, [
      '-c',
      'import os,sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None); [c.execute("insert into t values (?)", (100 + i,)) for i in range(7)]; os._exit(0)',
      join(live, 'chroma.sqlite3'),
    ]);
    expect(existsSync(join(live, 'chroma.sqlite3-wal'))).toBe(true);
    const d = agent('delta', manifest, 'chroma', live, vol);
    expect(d.status, d.stderr.toString()).toBe(0);
    expect(JSON.parse(d.stdout.toString())).toMatchObject({ databases: 1 });
    expect(rows(join(vol, 'chroma.sqlite3'), 't')).toEqual(['ok', '12', '106', 'delete']);
    expect(existsSync(join(vol, 'chroma.sqlite3-wal'))).toBe(false);
    const p = agent('parity', manifest, 'chroma', live, vol, join(t, 'none.json'));
    expect(p.status, p.stderr.toString()).toBe(0);
    expect(JSON.parse(p.stdout.toString())).toMatchObject({ databases: 1 });
  });
});
