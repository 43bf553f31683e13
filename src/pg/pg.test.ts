import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parsePgArgs } from '../../runbooks/pg.ts';
import { pgSchema } from './config.ts';
import { findDump, type PgFacts } from './facts.ts';
import { dbName, fileSafe } from './ops.ts';
import { pgSteps } from './steps.ts';

const config = pgSchema.parse({
  ssh: { host: 'h', user: 'u', key: 'k' },
  postgres: { project: 'dimini', user: 'dimini_user', db: 'dimini_db' },
});
const facts = (over: Partial<PgFacts> = {}): PgFacts => ({
  container: 'dimini_postgres_local',
  server: '15',
  pgdataFree: 1e9,
  hostFree: 1e9,
  taken: [],
  db: {
    name: 'dimini_db',
    owner: 'dimini_user',
    encoding: 'UTF8',
    collate: 'C',
    ctype: 'C',
    bytes: 1e6,
    comment: null,
    connections: 0,
  },
  source: {
    localDump: '/b/20261123-000000-abcd/dimini_db.dump',
    localManifest: '/b/20261123-000000-abcd/dimini_db.manifest.json',
    manifest: { db: 'dimini_db', bytes: 10, sha256: 'ab', at: 't', tables: [] },
  },
  ...over,
});
const plan = (mode: 'backup' | 'restore' | 'reset', f = facts()) =>
  pgSteps(mode)(config).map((s) => ({
    id: s.id,
    step: s,
    actions: s.plan({ config, facts: f, runId: '20261123-010203-wxyz', runDir: '/r' }),
  }));
/** pgtool's arguments: the last word of its argv (python3 TOOL OP ARGS). */
const args = (cmd: { kind: string; argv?: string[] }) => JSON.parse(cmd.argv!.at(-1)!);

describe('pg names', () => {
  it("a run's database names fit 63 bytes, cut at a character, never inside one", () => {
    expect(dbName('dimini_db', 'new', '20261123-010203-wxyz')).toBe('dimini_db__new_20261123_010203_wxyz');
    const long = 'ü'.repeat(40);
    const n = dbName(long, 'check', '20261123-010203-wxyz');
    expect(Buffer.byteLength(n)).toBeLessThanOrEqual(63);
    expect(n).toMatch(/^ü+__check_20261123_010203_wxyz$/);
  });
  it('file names keep only safe bytes', () => {
    expect(fileSafe('my db/../"x"')).toBe('my_db_..__x_');
    expect(fileSafe('..')).toBe('_');
  });
});

describe('pg.ts arguments', () => {
  it('takes the mode first, --dump for restore and --confirm for reset; passes the rest on', () => {
    expect(parsePgArgs(['restore', '--dump', 'backups/x/', '--yes', '-c', 'f.yaml'])).toEqual({
      mode: 'restore',
      dump: 'backups/x/',
      confirm: undefined,
      rest: ['--yes', '-c', 'f.yaml'],
    });
    expect(parsePgArgs(['reset', '--confirm=dimini_db'])).toMatchObject({
      mode: 'reset',
      confirm: 'dimini_db',
      rest: [],
    });
    expect(() => parsePgArgs([])).toThrow(/no mode given/);
    expect(() => parsePgArgs(['backup', '--dump', 'x'])).toThrow(/--dump is for restore only/);
    expect(() => parsePgArgs(['restore', '--dump'])).toThrow(/--dump needs a value/);
  });
  it("finds the dump in a backup run's directory, and refuses one without its manifest", () => {
    const d = mkdtempSync(join(tmpdir(), 'pg-'));
    writeFileSync(join(d, 'dimini_db.dump'), 'x');
    expect(findDump(d, 'dimini_db')).toMatchObject({ message: expect.stringMatching(/no manifest beside it/) });
    writeFileSync(join(d, 'dimini_db.manifest.json'), '{}');
    expect(findDump(d, 'dimini_db')).toEqual({
      localDump: join(d, 'dimini_db.dump'),
      localManifest: join(d, 'dimini_db.manifest.json'),
    });
  });
});

describe('pg plans', () => {
  it('restore: load (uploaded when the host copy is not intact), verify, then a swap that keeps the old database; its undo swaps back only from the state the swap left', () => {
    const p = plan('restore');
    expect(p.map((s) => s.id)).toEqual(['restore.load', 'restore.verify', 'restore.swap']);
    const load = p[0].actions;
    expect(load.map((a) => a.cmd.kind)).toEqual(['upload', 'upload', 'upload', 'remote']);
    expect(load[0].cmd).toMatchObject({
      kind: 'upload',
      path: '/var/lib/cutover/runs/20261123-010203-wxyz/pgtool.py',
      mode: '600',
    });
    expect(load[3].undoKind).toBe('destroys-data'); // never dropped once it has been live
    // every call of the run names the run's copy of the tool: no 20 KB of script in the journal
    for (const c of p
      .flatMap((s) => s.actions.flatMap((a) => [a.cmd, ...(a.undo ?? [])]))
      .filter((c) => c.kind === 'remote' && c.argv[0] === 'python3')) {
      expect(c.kind === 'remote' && c.argv.slice(0, 2)).toEqual([
        'python3',
        '/var/lib/cutover/runs/20261123-010203-wxyz/pgtool.py',
      ]);
      expect(JSON.stringify(c).length).toBeLessThan(2000);
    }
    const swap = p[2];
    expect(swap.step.takesWrites).toBe(true);
    expect(swap.step.destructive).toBe(true);
    const a = args(swap.actions[0].cmd as any);
    expect(a.pairs).toEqual([
      ['dimini_db', 'dimini_db__old_20261123_010203_wxyz'],
      ['dimini_db__new_20261123_010203_wxyz', 'dimini_db'],
    ]);
    const u = args(swap.actions[0].undo![0] as any);
    expect(u.pairs).toEqual([
      ['dimini_db', 'dimini_db__new_20261123_010203_wxyz'],
      ['dimini_db__old_20261123_010203_wxyz', 'dimini_db'],
    ]);
    expect(u).toMatchObject({
      when: { ours: ['dimini_db'], exists: ['dimini_db__old_20261123_010203_wxyz'] },
      otherwise: 'skip',
    });
  });
  it('restore with an intact host copy uploads nothing; with no database yet, the new one is only renamed into place', () => {
    const f = facts({ db: null });
    f.source!.hostCopy = '/var/lib/cutover/backups/20261123-000000-abcd/pg/dimini_db.dump';
    const p = plan('restore', f);
    expect(p[0].actions.map((a) => a.cmd.kind)).toEqual(['upload', 'remote']);
    expect(args(p[0].actions[1].cmd as any).file).toBe(f.source!.hostCopy);
    expect(args(p[2].actions[0].cmd as any).pairs).toEqual([['dimini_db__new_20261123_010203_wxyz', 'dimini_db']]);
  });
  it('reset: the backup and its trial restore come first; the old database is renamed, never dropped', () => {
    const p = plan('reset');
    expect(p.map((s) => s.id)).toEqual(['backup.dump', 'backup.verify', 'reset.swap']);
    const cmds = p.flatMap((s) => s.actions.flatMap((a) => [a.cmd, ...(a.undo ?? [])]));
    const drops = cmds.filter((c) => c.kind === 'remote' && c.argv.at(-2) === 'drop').map((c) => args(c as any).db);
    expect(drops.every((d) => d.startsWith('dimini_db__check_'))).toBe(true);
    expect(args(p[2].actions[0].cmd as any)).toMatchObject({
      pairs: [['dimini_db', 'dimini_db__old_20261123_010203_wxyz']],
      create: 'dimini_db',
    });
  });
});

describe('pg swaps let connections in again', () => {
  it('the swap and its undo name what allows connections after them, a lock timeout; settle the run', async () => {
    const p = plan('restore');
    const swap = args(p[2].actions[0].cmd as any);
    expect(swap).toMatchObject({ allow: ['dimini_db', 'dimini_db__old_20261123_010203_wxyz'], lockTimeout: 10 });
    expect(args(p[2].actions[0].undo![0] as any).allow).toEqual(['dimini_db__new_20261123_010203_wxyz', 'dimini_db']);
    // a database that refused connections when planned is not opened by the run
    const closed = plan('reset', facts({ db: { ...facts().db!, allowConn: false } }));
    expect(args(closed[2].actions[0].cmd as any).allow).toEqual(['dimini_db']);
    expect(args(closed[2].actions[0].undo![0] as any).allow).toEqual(['dimini_db__new_20261123_010203_wxyz']);
    const { pgRunbook } = await import('../../runbooks/pg.ts');
    const [settle] = pgRunbook('restore').settle!(config, '20261123-010203-wxyz');
    expect(settle.kind === 'remote' && settle.argv.at(-2)).toBe('settle');
    expect(args(settle as any)).toMatchObject({ run: '20261123-010203-wxyz', project: 'dimini', service: 'postgres' });
  });
});

describe('pg.ts backups', () => {
  it("lists this database's backups newest first, with what a restore is checked against, and names a damaged one", async () => {
    const { listBackups } = await import('./backups.ts');
    const root = mkdtempSync(join(tmpdir(), 'pg-backups-'));
    const put = (run: string, db: string, at: string, sums: boolean, dump: string | null) => {
      const d = join(root, run);
      mkdirSync(d, { recursive: true });
      writeFileSync(
        join(d, `${fileSafe(db)}.manifest.json`),
        JSON.stringify({
          db,
          bytes: 3,
          sha256: 'x',
          at,
          tables: [{ schema: 'public', name: 't', rows: 5, ...(sums ? { sum: '1' } : {}) }],
        }),
      );
      if (dump !== null) writeFileSync(join(d, `${fileSafe(db)}.dump`), dump);
    };
    put('20261123-010000-aaaa', 'dimini_db', '2026-11-23T01:00:00Z', true, 'abc');
    put('20261123-020000-bbbb', 'dimini_db', '2026-11-23T02:00:00Z', false, 'ab');
    put('20261123-030000-cccc', 'other', '2026-11-23T03:00:00Z', true, 'abc');
    put('20261123-040000-dddd', 'dimini_db', '2026-11-23T04:00:00Z', true, null);
    const l = listBackups(root, 'dimini_db');
    expect(l.map((b) => b.runId)).toEqual(['20261123-040000-dddd', '20261123-020000-bbbb', '20261123-010000-aaaa']);
    expect(l[0].problem).toBe('the dump is missing');
    expect(l[1]).toMatchObject({ checks: 'row counts only', problem: 'the dump is 2 bytes, the manifest says 3' });
    expect(l[2]).toMatchObject({ checks: 'row counts and content sums', rows: 5, tables: 1 });
    expect(l[2].problem).toBeUndefined();
    expect(listBackups(join(root, 'nope'), 'dimini_db')).toEqual([]);
  });
});
