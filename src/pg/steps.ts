import type { Action, PlanContext, Step } from '../engine/step.ts';
import type { PgConfig } from './config.ts';
import type { PgFacts, PgMode } from './facts.ts';
import * as op from './ops.ts';

type Ctx = PlanContext<PgConfig, PgFacts>;
type PgStep = Step<PgConfig, PgFacts>;

const step = (id: string, title: string, plan: (ctx: Ctx) => Action[], more: Partial<PgStep> = {}): PgStep => ({
  id,
  title,
  plan,
  ...more,
});

/** The run's copy of the pg tool, kept with its journal on the host (first in each mode's first step). */
const toolUpload = (runId: string): Action => ({
  cmd: op.uploadTool(runId),
  undoneBy: "nothing: kept with the run's journal on the host",
});

/** Dump in a snapshot, here and on the host, then prove the dump restores to the same rows. */
function backupSteps(c: PgConfig): PgStep[] {
  const db = c.postgres.db;
  return [
    step(
      'backup.dump',
      `dump database ${db} (pg_dump -Fc, one snapshot) here and on the host, sha256 equal on both ends`,
      ({ config, facts, runId, runDir }) => {
        const d = op.dumpPaths(config, runId, runDir);
        return [
          toolUpload(runId),
          {
            cmd: op.dump(config, facts.container, d, facts.db?.bytes ?? 0),
            undoneBy: 'nothing: a backup is kept (here and on the host)',
            creates: [{ type: 'backup', name: d.hostDump }],
          },
          { cmd: op.fetchManifest(d), undoneBy: 'nothing: kept with the backup' },
        ];
      },
    ),
    step(
      'backup.verify',
      c.backup.verify === 'restore'
        ? "the dump restores: loaded into a scratch database, every table has the snapshot's row count; their content sums recorded; the scratch database dropped"
        : 'the dump reads back whole (pg_restore --list), every table of the snapshot in it',
      ({ config, facts, runId, runDir }) => {
        const d = op.dumpPaths(config, runId, runDir);
        if (config.backup.verify === 'list')
          return [{ cmd: op.listDump(config, facts.container, d.hostDump, d.hostManifest, runId) }];
        const scratch = op.dbName(db, 'check', runId);
        return [
          {
            cmd: op.load(config, facts.container, d.hostDump, '', scratch, runId),
            undo: [op.dropOurs(config, facts.container, scratch, runId)],
            undoKind: 'removes-ours',
            creates: [{ type: 'database', name: scratch }],
          },
          {
            cmd: op.seal(config, facts.container, scratch, d.hostManifest, runId),
            undoneBy: 'nothing: the manifest only gains the sums',
          },
          {
            cmd: op.dropOurs(config, facts.container, scratch, runId),
            undoneBy: 'nothing to undo: the scratch database is gone',
          },
          { cmd: op.fetchManifest(d, 'now with the content sums'), undoneBy: 'nothing: kept with the backup' },
        ];
      },
    ),
  ];
}

function restoreSteps(c: PgConfig): PgStep[] {
  const db = c.postgres.db;
  return [
    step('restore.load', `restore the dump into a new database beside ${db}`, ({ config, facts, runId }) => {
      const s = facts.source!;
      const file = s.hostCopy ?? `${op.hostPgDir(runId)}/${s.localDump.split('/').pop()}`;
      const into = op.dbName(db, 'new', runId);
      const manifest = file.replace(/\.dump$/, '.manifest.json');
      const upload: Action[] = s.hostCopy
        ? []
        : [
            {
              cmd: op.uploadDump(s.localManifest, manifest),
              undo: [op.removeUpload(manifest)],
              undoKind: 'removes-ours',
              creates: [{ type: 'file', name: manifest }],
            },
            {
              cmd: op.uploadDump(s.localDump, file),
              undo: [op.removeUpload(file)],
              undoKind: 'removes-ours',
              creates: [{ type: 'file', name: file }],
            },
          ];
      return [
        toolUpload(runId),
        ...upload,
        {
          cmd: op.load(config, facts.container, file, s.manifest.sha256, into, runId),
          undo: [op.dropOurs(config, facts.container, into, runId)],
          // once it has been the live database it may hold the app's writes: then it is kept, never dropped
          undoKind: 'destroys-data',
          keep: [],
          creates: [{ type: 'database', name: into }],
        },
      ];
    }),
    step(
      'restore.verify',
      'the new database has every table of the dump, each with its row count and content sum',
      ({ config, facts, runId }) => [
        { cmd: op.verify(config, facts.container, op.dbName(db, 'new', runId), hostManifestFor(facts, runId), runId) },
      ],
    ),
    step(
      'restore.swap',
      `swap it in: ${db} becomes the restored database, the current one is kept under another name`,
      ({ config, facts, runId }) => {
        const nu = op.dbName(db, 'new', runId);
        const old = op.dbName(db, 'old', runId);
        const had = Boolean(facts.db);
        // after the swap and after its undo, these allow connections (the original only if it did when planned)
        const orig = (name: string) => (facts.db?.allowConn === false ? [] : [name]);
        return [
          {
            cmd: op.rename(
              config,
              facts.container,
              runId,
              had
                ? [
                    [db, old],
                    [nu, db],
                  ]
                : [[nu, db]],
              had ? { notOurs: [db], ours: [nu], absent: [old] } : { absent: [db], ours: [nu] },
              had ? { ours: [db], absent: [nu], exists: [old] } : { ours: [db], absent: [nu] },
              {
                says: had
                  ? `rename ${db} to ${old} (kept) and ${nu} to ${db}, in one transaction; the app's open connections` +
                    ` to ${db} are closed first (it reconnects to the restored one), allowed again however it ends`
                  : `rename ${nu} to ${db} (there was no ${db})`,
                live: db,
                allow: [db, ...(had ? orig(old) : [])],
              },
            ),
            undo: [
              op.rename(
                config,
                facts.container,
                runId,
                had
                  ? [
                      [db, nu],
                      [old, db],
                    ]
                  : [[db, nu]],
                had ? { ours: [db], exists: [old] } : { ours: [db] },
                had ? { ours: [nu], absent: [old] } : { ours: [nu], absent: [db] },
                {
                  says: had
                    ? `swap back: ${db} (the restored one, with any writes it took) to ${nu}, kept; ${old} to ${db};` +
                      ' both allow connections (read back)'
                    : `rename ${db} (the restored one) back to ${nu}, kept`,
                  otherwise: 'skip',
                  allow: [nu, ...(had ? orig(db) : [])],
                },
              ),
            ],
            undoKind: 'restores',
          },
        ];
      },
      { destructive: true, takesWrites: true },
    ),
  ];
}

/** The manifest on the host: the backup run's, beside its host copy, or this run's upload's. */
function hostManifestFor(facts: PgFacts, runId: string): string {
  const s = facts.source!;
  const dumpOnHost = s.hostCopy ?? `${op.hostPgDir(runId)}/${s.localDump.split('/').pop()}`;
  return dumpOnHost.replace(/\.dump$/, '.manifest.json');
}

function resetSteps(c: PgConfig): PgStep[] {
  const db = c.postgres.db;
  return [
    ...backupSteps(c),
    step(
      'reset.swap',
      `reset ${db}: the current database is kept under another name and an empty ${db} takes its place`,
      ({ config, facts, runId }) => {
        const nu = op.dbName(db, 'new', runId);
        const old = op.dbName(db, 'old', runId);
        const orig = (name: string) => (facts.db?.allowConn === false ? [] : [name]);
        return [
          {
            cmd: op.rename(
              config,
              facts.container,
              runId,
              [[db, old]],
              { notOurs: [db], absent: [old] },
              { ours: [db], exists: [old] },
              {
                says:
                  `rename ${db} to ${old} (kept: nothing is dropped), then create an empty ${db} (same owner, encoding,` +
                  " locale); the app's open connections are closed first, allowed again however it ends",
                create: db,
                live: db,
                allow: [db, ...orig(old)],
              },
            ),
            undo: [
              op.rename(
                config,
                facts.container,
                runId,
                [
                  [db, nu],
                  [old, db],
                ],
                { ours: [db], exists: [old] },
                { ours: [nu], absent: [old] },
                {
                  says:
                    `put ${db} back: the emptied one (with any writes it took) to ${nu}, kept; ${old} to ${db};` +
                    ' both allow connections (read back)',
                  otherwise: 'skip',
                  allow: [nu, ...orig(db)],
                },
              ),
            ],
            undoKind: 'restores',
          },
        ];
      },
      { destructive: true, takesWrites: true },
    ),
  ];
}

export function pgSteps(mode: PgMode) {
  return (c: PgConfig): PgStep[] => [
    ...(mode === 'backup' ? backupSteps(c) : mode === 'restore' ? restoreSteps(c) : resetSteps(c)),
  ];
}
