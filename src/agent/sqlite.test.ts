import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT, ENV, PY, tempDirs } from './testing.ts';

/** Runs python with the agent's modules importable; prints what the last expression returns. */
const py = (code: string, ...args: string[]) =>
  execFileSync(
    PY,
    ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(AGENT)}); import sqlite\n${code}`, ...args],
    {
      env: ENV,
    },
  )
    .toString()
    .trim();

// sqlite.same_database, what parity compares a live database and its copy in the volume with: the pages byte
// for byte when each file alone is its database, else (or when the bytes differ) the logical content.
describe('same_database: pages when they can prove it, logical content otherwise', () => {
  const { fresh } = tempDirs('agent-sqlite-');
  const same = (a: string, b: string) => py('print(*sqlite.same_database(sys.argv[1], sys.argv[2]))', a, b);
  /** A WAL database of 2000 rows of 500 random bytes at P, its WAL checkpointed away. */
  const make = (p: string) =>
    py(
      `
import sqlite3
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("pragma journal_mode=wal")
c.execute("create table t(id integer primary key, b blob)")
c.executemany("insert into t values (?, randomblob(500))", [(i,) for i in range(2000)])
c.close()`,
      p,
    );
  const sql = (p: string, stmt: string) =>
    py('import sqlite3; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit(); c.close()', p, stmt);

  it('a backup-API copy (its journal mode changed) is the same by its pages; one changed row is not, by either path', () => {
    const d = fresh();
    const [live, copy] = [join(d, 'live.db'), join(d, 'copy.db')];
    make(live);
    py('sqlite.sqlite_copy(sys.argv[1], sys.argv[2])', live, copy);
    expect(same(live, copy)).toBe('True pages');
    sql(copy, "update t set b = x'00' where id = 7");
    expect(same(live, copy)).toBe('False logical');
    // the same rows in other bytes (a row added and removed again): the same content, found by reading it
    const moved = join(d, 'moved.db');
    copyFileSync(live, moved);
    sql(moved, 'insert into t values (9999, randomblob(20000))');
    sql(moved, 'delete from t where id = 9999');
    expect(same(live, moved)).toBe('True logical');
  });

  it('a live database whose WAL still holds commits is compared by content, the WAL included', () => {
    const d = fresh();
    const [live, copy] = [join(d, 'live.db'), join(d, 'copy.db')];
    make(live);
    // commits left in the WAL (no checkpoint: the process ends without closing)
    py(
      `
import os, sqlite3
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("pragma wal_autocheckpoint=0")
c.execute("insert into t values (5000, x'01')")
os._exit(0)`,
      live,
    );
    expect(Number(py('import os; print(os.path.getsize(sys.argv[1] + "-wal"))', live))).toBeGreaterThan(0);
    py('sqlite.sqlite_copy(sys.argv[1], sys.argv[2])', live, copy);
    expect(same(live, copy)).toBe('True logical');
    // the file alone, without its WAL, lacks that commit: never taken for the database
    const bare = join(d, 'bare.db');
    copyFileSync(live, bare);
    expect(same(bare, copy)).toBe('False logical');
  });
});

// SQLite's default journal mode is DELETE: a writer killed inside a transaction larger than its page cache
// leaves a torn main file and a hot journal. Only a rollback of that journal gives a committed state.
describe('a database with a hot journal (DELETE mode, its writer killed mid-transaction)', () => {
  const { fresh } = tempDirs('agent-hot-');
  /** 3000 committed rows of 'a' at P, then a transaction setting every row to 'b' killed after its pages spilled. */
  const torn = (p: string) =>
    py(
      `
import os, signal, sqlite3, subprocess
c = sqlite3.connect(sys.argv[1])
c.execute("create table t(id integer primary key, v text, pad blob)")
c.executemany("insert into t values (?, 'a', randomblob(300))", [(i,) for i in range(3000)])
c.commit(); c.close()
subprocess.run([sys.executable, "-c", '''
import os, signal, sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("pragma cache_size=5"); c.execute("begin")
c.execute("update t set v = 'b'")
os.kill(os.getpid(), signal.SIGKILL)''', sys.argv[1]])
print(os.path.getsize(sys.argv[1] + "-journal"))`,
      p,
    );
  /** What a reader ignoring the journal sees: SQLite's immutable=1 on the torn file. */
  const ignoringJournal = (p: string) =>
    py(
      'import sqlite3; print(sorted(set(r[0] for r in sqlite3.connect("file:" + sys.argv[1] + "?mode=ro&immutable=1", uri=True).execute("select v from t"))))',
      p,
    );
  /** SQLite's own recovery, on a copy of the file and its journal: the state every committed transaction left. */
  const recovered = (d: string, p: string) => {
    execFileSync('sh', [
      '-c',
      'mkdir "$1/own" && cp "$2" "$1/own/x.db" && cp "$2-journal" "$1/own/x.db-journal"',
      'sh',
      d,
      p,
    ]);
    return py(
      'import sqlite3; c = sqlite3.connect(sys.argv[1]); print(c.execute("select count(*), group_concat(distinct v) from t").fetchone())',
      join(d, 'own', 'x.db'),
    );
  };

  it('is read, copied and compared as its committed state, never as the torn file; the live files are untouched', () => {
    const d = fresh();
    const live = join(d, 'live.db');
    expect(Number(torn(live))).toBeGreaterThan(0);
    // the test's premise: the file alone is torn (some rows 'b', never committed), SQLite's own recovery says all 'a'
    expect(ignoringJournal(live)).toBe("['a', 'b']");
    expect(recovered(d, live)).toBe("(3000, 'a')");
    const before = execFileSync('sha256sum', [live, `${live}-journal`]).toString();
    // the backup's and the delta's copy (backup API), its logical hash, and parity's compare
    const copy = join(d, 'copy.db');
    py('sqlite.sqlite_copy(sys.argv[1], sys.argv[2])', live, copy);
    expect(
      py(
        'import sqlite3; print(sqlite3.connect(sys.argv[1]).execute("select count(*), group_concat(distinct v) from t").fetchone())',
        copy,
      ),
    ).toBe("(3000, 'a')");
    expect(py('print(*sqlite.same_database(sys.argv[1], sys.argv[2]))', live, copy)).toBe('True logical');
    const tornCopy = join(d, 'torn-copy.db');
    execFileSync('cp', [live, tornCopy]);
    expect(py('print(*sqlite.same_database(sys.argv[1], sys.argv[2]))', live, tornCopy)).toBe('False logical');
    expect(py('print(sqlite.quick_check(sys.argv[1]))', live)).toBe('ok');
    // bare metal's files as they were (a read-only helper mount could not change them anyway)
    expect(execFileSync('sha256sum', [live, `${live}-journal`]).toString()).toBe(before);
  });
});
