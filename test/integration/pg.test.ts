import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { LAB, ROOT } from '../support/lab.ts';
import { runbook, runbookAsync, stepBegan, whenJournal, type RunResult } from '../support/run.ts';

// pg.ts on the lab's dimini PostgreSQL (seed 001): backup while an app writes many times a second,
// reset, restore, rollbacks, and inputs it must refuse. Names of schemas and tables are any bytes.
const C = 'dimini_postgres_local';
const CFG = 'runbooks/pg/dimini.yaml';
const tmp = mkdtempSync('/tmp/cutover-pg-');

const psql = (sql: string, db = 'dimini_db') =>
  execFileSync(
    'docker',
    ['exec', '-i', C, 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-U', 'dimini_user', '-d', db],
    { input: sql, encoding: 'utf8' },
  ).trim();
const databases = () =>
  psql('SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1;', 'postgres').split('\n');

/**
 * The database's content, by a formula of its own (not pg.ts's): every user table's name, row
 * count and the md5 of its rows' text in sorted order.
 */
function fingerprint(db = 'dimini_db'): Record<string, string> {
  const tables = JSON.parse(
    psql(
      `SELECT coalesce(json_agg(json_build_array(n.nspname, c.relname)), '[]') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%';`,
      db,
    ),
  ) as [string, string][];
  const out: Record<string, string> = {};
  for (const [s, t] of tables) {
    const q = `"${s.replace(/"/g, '""')}"."${t.replace(/"/g, '""')}"`;
    out[`${s}.${t}`] = psql(
      `SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '-') FROM ${q} x;`,
      db,
    );
  }
  return out;
}

const pg = (mode: string, ...args: string[]): RunResult & { runId?: string } => {
  const r = runbook('pg', [mode, ...args]);
  return { ...r, runId: /run (\d{8}-\d{6}-[a-z0-9]{4})/.exec(r.stdout)?.[1] };
};
const runDir = (id: string) => resolve(ROOT, 'backups', id);
const config = (over: Record<string, unknown>) => {
  const base = parse(readFileSync(resolve(ROOT, CFG), 'utf8'));
  const p = join(tmp, `pg-${Math.random().toString(36).slice(2, 8)}.yaml`);
  writeFileSync(p, stringify({ ...base, postgres: { ...base.postgres, ...over } }));
  return p;
};

/**
 * An app writing many times a second, in its own process (the runbook runs synchronously here):
 * one session inside the container inserting a row every 5 ms until a stop file appears.
 */
function writer() {
  psql(
    'CREATE TABLE IF NOT EXISTS app_writes (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp(), v text);',
  );
  const loop =
    'rm -f /tmp/cutover-writer-stop; while [ ! -e /tmp/cutover-writer-stop ]; do echo "INSERT INTO app_writes (v) VALUES (md5(random()::text));"; sleep 0.005; done | psql -X -q -U dimini_user -d dimini_db';
  const p = spawn('docker', ['exec', C, 'sh', '-c', loop], { stdio: 'ignore' });
  return {
    stop: async () => {
      execFileSync('docker', ['exec', C, 'touch', '/tmp/cutover-writer-stop']);
      await new Promise((r) => p.once('exit', r));
    },
  };
}

const ODD_SCHEMA = 'odd "schema" ü';
const ODD_TABLE = "tab,\nle\t'x' 🗄";
const qi = (s: string) => `"${s.replace(/"/g, '""')}"`;

describe("pg.ts backup | reset | restore on the lab's dimini PostgreSQL", () => {
  let before: Record<string, string>;
  let backupRun: string;
  let resetRun: string;
  let afterReset: Record<string, string>;
  let restoreRun: string;

  beforeAll(() => {
    const d = spawnSync('bash', [resolve(ROOT, 'scripts/lab/stacks/deploy.sh'), 'dimini'], { encoding: 'utf8' });
    expect(d.status, `${d.stdout}${d.stderr}`).toBe(0);
    // what a customer's database holds that our lab app does not make: odd names, binary, NULLs, a partitioned table, 100k rows
    psql(`DROP SCHEMA IF EXISTS ${qi(ODD_SCHEMA)} CASCADE; DROP TABLE IF EXISTS big, app_writes, events CASCADE;
      CREATE SCHEMA ${qi(ODD_SCHEMA)};
      CREATE TABLE ${qi(ODD_SCHEMA)}.${qi(ODD_TABLE)} (id int PRIMARY KEY, b bytea, t text, j jsonb);
      INSERT INTO ${qi(ODD_SCHEMA)}.${qi(ODD_TABLE)} VALUES (1, '\\x00ff00', E'line\\nbreak\\ttab', '{"k": [1, 2]}'), (2, NULL, NULL, NULL), (3, '', '', '{}');
      CREATE TABLE big (id int PRIMARY KEY, v text, f float8, n numeric);
      INSERT INTO big SELECT g, md5(g::text), g / 7.0, g * 1.1 FROM generate_series(1, 100000) g;
      CREATE TABLE events (at date, v int) PARTITION BY RANGE (at);
      CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
      CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      INSERT INTO events SELECT date '2025-06-01' + g, g FROM generate_series(1, 400) g;`);
  });

  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
    // the lab's dimini as the other tests expect it: one dimini_db (the original content back), nothing this file made,
    // connections allowed (whatever a failed assertion here left)
    psql('ALTER DATABASE dimini_db ALLOW_CONNECTIONS true;', 'postgres');
    for (const db of databases())
      if (/__(new|old|check)_\d{8}_/.test(db)) psql(`DROP DATABASE ${qi(db)} WITH (FORCE);`, 'postgres');
    psql(
      `DROP SCHEMA IF EXISTS ${qi(ODD_SCHEMA)} CASCADE; DROP TABLE IF EXISTS big, app_writes, events, after_reset CASCADE;`,
    );
  });

  it('a dry run reads the host and changes nothing', () => {
    const dbs = databases();
    const r = pg('backup', '--config', CFG, '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/pg_dump -Fc of database dimini_db in one snapshot/);
    expect(r.stdout).toMatch(
      /\+ every table in dimini_db__check_\S+ has the snapshot's row count; record each table's content sum/,
    );
    expect(databases()).toEqual(dbs);
  });

  it('backup while an app writes: the dump here and on the host with equal sha256; row counts and sums of its snapshot; proven by a trial restore', async () => {
    const w = writer();
    await new Promise((r) => setTimeout(r, 500));
    const pre = Number(psql('SELECT count(*) FROM app_writes;'));
    const r = pg('backup', '--config', CFG, '--json');
    const writesDuring = Number(psql('SELECT count(*) FROM app_writes;'));
    await w.stop();
    before = fingerprint(); // the original, at rest from here on
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    backupRun = r.runId!;
    const dir = runDir(backupRun);
    const dump = readFileSync(join(dir, 'dimini_db.dump'));
    const sha = createHash('sha256').update(dump).digest('hex');
    const m = JSON.parse(readFileSync(join(dir, 'dimini_db.manifest.json'), 'utf8'));
    expect(m.sha256).toBe(sha);
    expect(m.bytes).toBe(dump.length);
    const host = execFileSync('sudo', ['sha256sum', `/var/lib/cutover/backups/${backupRun}/pg/dimini_db.dump`], {
      encoding: 'utf8',
    }).split(' ')[0];
    expect(host).toBe(sha);
    // quiet tables: exactly what the database held; the app's table: a snapshot, taken while it kept writing
    const t = (s: string, n: string) => m.tables.find((x: any) => x.schema === s && x.name === n);
    expect(t(ODD_SCHEMA, ODD_TABLE).rows).toBe(3);
    expect(t('public', 'big').rows).toBe(100000);
    expect(t('public', 'events_2025').rows + t('public', 'events_2026').rows).toBe(400);
    expect(t('public', 'events')).toBeUndefined(); // a partitioned parent is counted through its partitions, once
    expect(m.tables.every((x: any) => /^\d+$/.test(x.sum))).toBe(true); // content sums, from the trial restore
    const snap = t('public', 'app_writes').rows;
    expect(snap).toBeGreaterThanOrEqual(pre);
    expect(writesDuring).toBeGreaterThan(snap);
    // the trial restore ran, and left no scratch database
    const j = readFileSync(join(dir, 'journal.jsonl'), 'utf8');
    expect(j).toMatch(/"type":"step-done","step":"backup.verify"/);
    expect(databases().filter((d) => d.includes('__check_'))).toEqual([]);
    expect(r.events.find((e) => e.type === 'summary')?.data).toMatchObject({ mode: 'backup', db: 'dimini_db' });
    // and the operator finds it, with the command that restores it
    const l = pg('backups', '--config', CFG);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toMatch(
      new RegExp(
        `${backupRun} +snapshot \\S+ .*tables, \\d+ rows; a restore checks row counts and content sums\\n +npx tsx runbooks/pg.ts restore --config ${CFG} --dump backups/${backupRun}/ --yes`,
      ),
    );
  });

  it('reset: refused without the typed name, or with another; nothing changed', () => {
    const dbs = databases();
    const before = readdirSync(resolve(ROOT, 'backups')).length;
    const none = pg('reset', '--config', CFG);
    expect(none.code).toBe(2);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    expect(none.stderr).toMatch(/confirm by typing its name: --confirm dimini_db/);
    const wrong = pg('reset', '--config', CFG, '--confirm', 'dimini');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/not the database's \(dimini_db\): nothing was changed/);
    expect(databases()).toEqual(dbs);
    expect(readdirSync(resolve(ROOT, 'backups')).length).toBe(before);
  });

  it('reset on a terminal asks for the name; another name typed changes nothing', async () => {
    const dbs = databases();
    const s = `cutover-pg-${process.pid}`;
    const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });
    tmux(
      'new-session',
      '-d',
      '-s',
      s,
      '-x',
      '200',
      '-y',
      '40',
      `cd ${ROOT} && env -u CI node_modules/.bin/tsx runbooks/pg.ts reset --config ${CFG}; echo EXIT=$?; sleep 30`,
    );
    try {
      const wait = async (re: RegExp) => {
        for (let t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 150))) {
          const text = tmux('capture-pane', '-p', '-J', '-t', s);
          if (re.test(text)) return text;
          if (Date.now() - t0 > 60_000) throw new Error(`screen never showed ${re}:\n${text}`);
        }
      };
      await wait(/Type its name to confirm/);
      tmux('send-keys', '-t', s, '-l', 'dimini_prod');
      tmux('send-keys', '-t', s, 'Enter');
      const text = await wait(/EXIT=\d+/);
      expect(text).toMatch(/not the database's \(dimini_db\): nothing was changed/);
      expect(text).toMatch(/EXIT=2/);
    } finally {
      tmux('kill-session', '-t', s);
    }
    expect(databases()).toEqual(dbs);
  });

  it('reset with the typed name: a verified backup first, then an empty database; the old one kept whole', () => {
    const r = pg('reset', '--config', CFG, '--confirm', 'dimini_db');
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    resetRun = r.runId!;
    expect(existsSync(join(runDir(resetRun), 'dimini_db.dump'))).toBe(true);
    const j = readFileSync(join(runDir(resetRun), 'journal.jsonl'), 'utf8');
    expect(j.indexOf('"step":"backup.verify"')).toBeLessThan(j.indexOf('"step":"reset.swap"'));
    const fp = fingerprint();
    expect(Object.keys(fp).filter((k) => k !== 'public.sessions')).toEqual([]); // the app may have made its table again
    expect(fingerprint(`dimini_db__old_${resetRun.replace(/-/g, '_')}`)).toEqual(before);
    expect(r.stdout).toMatch(/kept as dimini_db__old_\S+: drop it when sure/);
    // the app writes into the emptied database: the restore must not lose this either
    psql("CREATE TABLE after_reset (v text); INSERT INTO after_reset VALUES ('written after the reset');");
    // and the app's healthcheck makes its own table again (every 2 s): wait for it, so the content is at rest
    for (let i = 0; i < 50 && !psql("SELECT to_regclass('public.sessions') IS NOT NULL;").startsWith('t'); i++)
      execFileSync('sleep', ['0.2']);
    afterReset = fingerprint();
    expect(Object.keys(afterReset).sort()).toEqual(['public.after_reset', 'public.sessions']);
  });

  it('restore brings back every row: the content equal to before the reset; the database it replaced is kept', () => {
    const r = pg('restore', '--config', CFG, '--dump', `backups/${resetRun}/`, '--yes', '--verbose');
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    restoreRun = r.runId!;
    // the host copy of the backup, intact: no dump or manifest uploaded (only the run's copy of the pg tool)
    expect(r.stdout.split('\n').filter((l) => /upload/.test(l) && !/pgtool\.py|the pg tool/.test(l))).toEqual([]);
    expect(r.stdout).toMatch(/upload the pg tool for this run to \/var\/lib\/cutover\/runs\/\S+\/pgtool\.py/);
    expect(fingerprint()).toEqual(before);
    expect(fingerprint(`dimini_db__old_${restoreRun.replace(/-/g, '_')}`)).toEqual(afterReset);
  });

  it('--rollback of the restore gives back the database as it was; the restored copy is kept, never dropped', () => {
    const r = pg('restore', '--rollback', restoreRun, '--config', CFG);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(fingerprint()).toEqual(afterReset);
    expect(r.stdout).toMatch(/kept on purpose: database dimini_db__new_/);
    expect(databases()).toContain(`dimini_db__new_${restoreRun.replace(/-/g, '_')}`);
    // marked as once live: no undo or re-run of this run drops it or loads over it
    expect(
      psql(
        `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'dimini_db__new_${restoreRun.replace(/-/g, '_')}';`,
        'postgres',
      ),
    ).toBe(`cutover run ${restoreRun}; was live`);
    // and the reset's rollback puts the original back, the emptied one kept
    const back = pg('reset', '--rollback', resetRun, '--config', CFG);
    expect(back.code, `${back.stdout}\n${back.stderr}`).toBe(0);
    expect(fingerprint()).toEqual(before);
    expect(fingerprint(`dimini_db__new_${resetRun.replace(/-/g, '_')}`)).toEqual(afterReset);
  });

  it('a failure before the swap drops the new database (it never went live); at the swap, it is kept', () => {
    const dbs = databases();
    const early = pg(
      'restore',
      '--config',
      CFG,
      '--dump',
      `backups/${backupRun}/dimini_db.dump`,
      '--yes',
      '--fail-at',
      'restore.verify',
    );
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/failure injected by --fail-at restore.verify; rolled back/);
    expect(databases()).toEqual(dbs);
    const late = pg(
      'restore',
      '--config',
      CFG,
      '--dump',
      `backups/${backupRun}/`,
      '--yes',
      '--fail-at',
      'restore.swap',
    );
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/kept on purpose: dimini_db__new_/);
    expect(fingerprint()).toEqual(before);
    expect(databases()).toEqual([...dbs, `dimini_db__new_${late.runId!.replace(/-/g, '_')}`].sort());
  });

  /** A session on the maintenance database holding a lock on dimini_db (an open COMMENT ON DATABASE): renames wait. */
  async function lockHolder() {
    const p = spawn(
      'docker',
      ['exec', '-i', C, 'psql', '-X', '-q', '-A', '-t', '-U', 'dimini_user', '-d', 'postgres'],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    p.stdin.write("BEGIN; COMMENT ON DATABASE dimini_db IS 'held by the test'; SELECT 'held';\n");
    await new Promise<void>((res) => p.stdout.on('data', (d) => String(d).includes('held') && res()));
    return {
      release: async () => {
        p.stdin.end('ROLLBACK;\n');
        await new Promise((r) => p.once('exit', r));
      },
    };
  }
  /** Our own reading of the catalog: database name -> datallowconn. */
  const allowConn = () =>
    Object.fromEntries(
      psql('SELECT datname, datallowconn FROM pg_database;', 'postgres')
        .split('\n')
        .map((l) => l.split('|'))
        .map(([n, a]) => [n, a === 't']),
    );
  const oid = (db: string) => psql(`SELECT oid FROM pg_database WHERE datname = '${db}';`, 'postgres');

  it(
    'a swap that really fails (a lock held elsewhere times the rename out) lets connections in again; ' +
      'its undo makes sure of it, and reads it back',
    async () => {
      const dbs = databases();
      const liveOid = oid('dimini_db');
      const holder = await lockHolder();
      let r: ReturnType<typeof pg>;
      try {
        const cfg = config({ lockTimeoutSeconds: 2 });
        r = pg('restore', '--config', cfg, '--dump', `backups/${backupRun}/`, '--yes', '--no-rollback');
      } finally {
        await holder.release();
      }
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          'step restore.swap failed: renaming dimini_db to dimini_db__old_\\S+ ' +
            'dimini_db__new_\\S+ to dimini_db failed: .*lock timeout: session \\d+ \\(psql\\) holds a lock on it',
        ),
      );
      const nu = `dimini_db__new_${r.runId!.replace(/-/g, '_')}`;
      // nothing renamed, and the app can connect: the live one and the restored one both allow connections
      expect(oid('dimini_db')).toBe(liveOid);
      expect(databases()).toEqual([...dbs, nu].sort());
      expect(allowConn()).toMatchObject({ dimini_db: true, [nu]: true });
      // a swap killed before it could let them in (SIGKILL, the container restarted): the undo still does, and checks
      psql('ALTER DATABASE dimini_db ALLOW_CONNECTIONS false;', 'postgres');
      const back = pg('restore', '--rollback', r.runId!, '--config', CFG);
      expect(back.code, `${back.stdout}\n${back.stderr}`).toBe(0);
      expect(allowConn()).toMatchObject({ dimini_db: true, [nu]: true });
      expect(oid('dimini_db')).toBe(liveOid);
      expect(fingerprint()).toEqual(before);
      const comment =
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database" + " WHERE datname = 'dimini_db';";
      expect(psql(comment, 'postgres')).toBe('');
    },
  );

  it(
    'a lost session still renaming (waiting for a lock) is stopped by --rollback before it touches anything: ' +
      'nothing renamed later',
    async () => {
      const dbs = databases();
      const liveOid = oid('dimini_db');
      const holder = await lockHolder();
      let runId: string;
      try {
        const cfg = config({ lockTimeoutSeconds: 300 });
        const run = runbookAsync('pg', ['restore', '--config', cfg, '--dump', `backups/${backupRun}/`, '--yes']);
        runId = (await whenJournal(run.result, stepBegan('restore.swap'))).split('/').at(-2)!;
        const sessions = `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cutover ${runId}'`;
        const waiting = () => psql(`${sessions} AND wait_event_type = 'Lock';`, 'postgres');
        for (let i = 0; i < 100 && waiting() === '0'; i++) execFileSync('sleep', ['0.1']);
        expect(waiting()).toBe('1');
        process.kill(-run.child.pid!, 'SIGKILL'); // the operator's laptop gone: the host side keeps waiting for the lock
        await run.done;
        const t0 = Date.now();
        const back = pg('restore', '--rollback', runId, '--config', CFG);
        expect(back.code, `${back.stdout}\n${back.stderr}`).toBe(0);
        expect(back.stdout).toMatch(
          new RegExp(
            `settled what an earlier session of run ${runId} left running on the host:` +
              ' .*(pid \\d+: sudo -n -- python3 \\S*pgtool\\.py |"stopped": \\["(pgtool pid|server session) \\d+)',
          ),
        );
        expect(Date.now() - t0).toBeLessThan(60_000); // not the 300 s the rename would have waited
        // our own look: no pgtool of the run on the host, no session of it in the server
        const tools = spawnSync('pgrep', ['-f', runId])
          .stdout.toString()
          .split('\n')
          .filter(Boolean)
          .filter((pid) => {
            try {
              const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
              return cmd.includes('pgtool.py') || cmd.includes("pg.ts's host side");
            } catch {
              return false;
            }
          });
        expect(tools).toEqual([]);
        expect(psql(`${sessions};`, 'postgres')).toBe('0');
      } finally {
        await holder.release();
      }
      // the lock gone: had the old rename still been waiting, it would rename now
      execFileSync('sleep', ['1']);
      expect(oid('dimini_db')).toBe(liveOid);
      expect(databases()).toEqual([...dbs, `dimini_db__new_${runId.replace(/-/g, '_')}`].sort());
      expect(allowConn()).toMatchObject({ dimini_db: true });
      expect(fingerprint()).toEqual(before);
    },
  );

  it('a damaged dump is refused by its sha256 before anything changes (here, before the upload; on the host, before the restore)', () => {
    const dir = join(tmp, 'damaged');
    cpSync(runDir(backupRun), dir, { recursive: true });
    const f = join(dir, 'dimini_db.dump');
    const fd = openSync(f, 'r+');
    writeSync(fd, Buffer.from([0x42]), 0, 1, 100);
    closeSync(fd);
    const dbs = databases();
    const r = pg('restore', '--config', CFG, '--dump', f, '--yes');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /preflight: \S+damaged\/dimini_db.dump does not match its manifest's sha256 .*restore another backup/,
    );
    expect(databases()).toEqual(dbs);
    // the host copy of a backup, damaged: pg_restore never reads it
    const host = `/var/lib/cutover/backups/${backupRun}/pg/dimini_db.dump`;
    execFileSync('sudo', ['cp', '-a', host, `${host}.orig`]);
    try {
      execFileSync('sudo', [
        'python3',
        '-c',
        `f = open(${JSON.stringify(host)}, 'r+b'); f.seek(100); f.write(b'B'); f.close()`,
      ]);
      const h = pg('restore', '--config', CFG, '--dump', `backups/${backupRun}/`, '--yes');
      expect(h.code).toBe(1);
      expect(h.stderr).toMatch(
        /step restore.load failed: .*dimini_db.dump does not match its sha256 .*the host's copy was changed since the backup.*; rolled back/,
      );
      expect(databases()).toEqual(dbs);
    } finally {
      execFileSync('sudo', ['mv', `${host}.orig`, host]);
    }
  });

  it("seed 002's PostgreSQL (AI Whisperers, another project and user): a verified backup; its password never in a process's argv, nor in what the run keeps", async () => {
    const d = spawnSync('bash', [resolve(ROOT, 'scripts/lab/stacks/deploy.sh'), 'aiwhisperers'], { encoding: 'utf8' });
    expect(d.status, `${d.stdout}${d.stderr}`).toBe(0);
    const base = parse(readFileSync(resolve(ROOT, 'runbooks/pg/aiwhisperers.yaml'), 'utf8'));
    const cfg = join(tmp, 'aiw-password.yaml');
    writeFileSync(cfg, stringify({ ...base, postgres: { ...base.postgres, passwordEnv: 'AIW_PG_PASSWORD' } }));
    const password = `pw-${process.pid}-$'"#\\x`;
    const run = runbookAsync('pg', ['backup', '--config', cfg], { AIW_PG_PASSWORD: password });
    // every process on this machine (the lab host is this machine), sampled while the backup runs: ps as any local user sees it
    const seen: string[] = [];
    let samples = 0;
    const watching = (async () => {
      while (run.child.exitCode === null) {
        const ps = spawnSync('ps', ['-eww', '-o', 'args='], { encoding: 'utf8' }).stdout;
        samples++;
        if (ps.includes(password)) seen.push(ps.split('\n').find((l) => l.includes(password))!);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const r = await run.done;
    await watching;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(samples).toBeGreaterThan(20);
    expect(seen).toEqual([]);
    const id = /run (\d{8}-\d{6}-[a-z0-9]{4})/.exec(r.stdout)![1];
    for (const f of ['journal.jsonl', 'run.log'])
      expect(readFileSync(join(runDir(id), f), 'utf8')).not.toContain(password);
    const onHost = spawnSync('grep', ['-rlF', '--', password, '/var/lib/cutover'], { encoding: 'utf8' });
    expect(onHost.stdout).toBe('');
    expect(onHost.status).toBe(1); // grep read everything and found nothing (2: it could not read)
    expect(r.stdout).toMatch(
      /backup of aiwhisperers: \S+aiwhisperers.dump .*\n {2}host copy: .*\n {2}verified: a trial restore/,
    );
    expect(r.stdout).toMatch(
      /container aiwhisperers-postgres|restore it with: npx tsx runbooks\/pg.ts restore --config \S*aiw-password\.yaml/,
    );
  });

  it('the host lost in the middle of a step: the run stops resumable with the lock kept, and the printed --resume finishes it', async () => {
    const base = parse(readFileSync(resolve(ROOT, CFG), 'utf8'));
    const cfg = join(tmp, 'short-reconnect.yaml');
    writeFileSync(cfg, stringify({ ...base, ssh: { ...base.ssh, reconnectSeconds: 2 } }));
    const run = runbookAsync('pg', ['backup', '--config', cfg]);
    await whenJournal(run.result, stepBegan('backup.verify'));
    const sshdPid = readFileSync(resolve(LAB, 'ssh/sshd.pid'), 'utf8').trim();
    let next: string[];
    try {
      execFileSync('kill', [sshdPid]);
      spawnSync('pkill', ['-9', '-f', '^sshd: ubuntu']);
      const r = await run.done;
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      const m =
        /the host cannot be reached again; the host lock stays with run (\S+)\. When it is reachable: npx tsx runbooks\/pg\.ts (backup --resume \S+ --config \S+) to continue/.exec(
          r.stderr,
        );
      expect(m, r.stderr).toBeTruthy();
      next = m![2].split(' ');
    } finally {
      execFileSync('/usr/sbin/sshd', ['-f', resolve(LAB, 'ssh/sshd_config')]);
    }
    // the host is back once sshd answers (it may take a moment to listen)
    for (
      let i = 0;
      i < 50 &&
      spawnSync('ssh', ['-F', resolve(LAB, 'ssh/config'), '-o', 'ConnectTimeout=2', 'chm-lab', 'true']).status !== 0;
      i++
    )
      execFileSync('sleep', ['0.2']);
    const resumed = runbook('pg', next!);
    expect(resumed.code, `${resumed.stdout}\n${resumed.stderr}`).toBe(0);
    expect(resumed.stdout).toMatch(/verified: a trial restore/);
    expect(databases().filter((d) => d.includes('__check_'))).toEqual([]);
    expect(
      execFileSync('sudo', ['sh', '-c', 'ls /var/lib/cutover/pg/dimini-postgres/ 2>/dev/null || true'], {
        encoding: 'utf8',
      }).trim(),
    ).toBe('');
  });

  it('bad input gets one line and no change: no such database, no container, no --dump, a dump without its manifest', () => {
    const cases: [string[], RegExp][] = [
      [
        ['backup', '--config', config({ db: 'nope' })],
        /database nope does not exist in dimini_postgres_local: set postgres.db/,
      ],
      [
        ['backup', '--config', config({ project: 'no-such-project' })],
        /no running container for compose service postgres of project no-such-project/,
      ],
      [['restore', '--config', CFG], /restore needs --dump backups\/<run>\//],
      [['restore', '--config', CFG, '--dump', join(tmp, 'x.dump')], /no such file or directory/],
      [['frobnicate'], /unknown mode 'frobnicate'/],
    ];
    writeFileSync(join(tmp, 'lonely.dump'), 'x');
    cases.push([['restore', '--config', CFG, '--dump', join(tmp, 'lonely.dump')], /no manifest beside it/]);
    for (const [args, re] of cases) {
      const r = pg(args[0], ...args.slice(1));
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  });
});
