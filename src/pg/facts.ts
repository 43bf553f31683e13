import { createReadStream, existsSync, readdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import type { Facts, Probe, Problem } from '../engine/runbook.ts';
import { formatBytes } from '../util/bytes.ts';
import type { PgConfig } from './config.ts';
import { dbName, facts as factsCmd, findContainer, hostPgDir } from './ops.ts';

export type PgMode = 'backup' | 'restore' | 'reset';

export interface DbInfo {
  name: string;
  owner: string;
  encoding: string;
  collate: string;
  ctype: string;
  bytes: number;
  comment: string | null;
  connections: number;
  /** pg_database.datallowconn when the facts were read. */
  allowConn?: boolean;
}

/** What a dump made by `pg.ts backup` says about itself (backups/<run>/<db>.manifest.json). */
export interface Manifest {
  db: string;
  bytes: number;
  sha256: string;
  dbBytes?: number;
  at: string;
  tables: { schema: string; name: string; rows: number; sum?: string }[];
}

export interface PgFacts {
  container: string;
  server: string;
  db: DbInfo | null;
  /** Free bytes where the database files live (PGDATA) and where the host keeps backups. */
  pgdataFree: number | null;
  hostFree: number | null;
  /** restore: the dump to restore, and a host copy of it (from its backup run) when it is there and intact. */
  source?: { localDump: string; localManifest: string; manifest: Manifest; hostCopy?: string };
  /** Names this run would give databases that are taken already. */
  taken: string[];
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

const RUN_ID = /^[0-9]{8}-[0-9]{6}-[a-z0-9]{4}$/;

/** --dump FILE or a backup run's directory (backups/<run>/): the dump and the manifest beside it. */
export function findDump(arg: string, db: string): { localDump: string; localManifest: string } | Problem {
  let file = resolve(arg);
  if (!existsSync(file))
    return {
      message: `--dump ${arg}: no such file or directory (give a backups/<run>/ of \`pg.ts backup\`, or its .dump file)`,
    };
  if (statSync(file).isDirectory()) {
    const dumps = readdirSync(file).filter((f) => f.endsWith('.dump'));
    const pick = dumps.length === 1 ? dumps[0] : dumps.find((f) => f === `${db.replace(/[^A-Za-z0-9._-]/g, '_')}.dump`);
    if (!pick)
      return {
        message: `--dump ${arg}: ${dumps.length ? `${dumps.length} dumps in it (${dumps.join(', ')})` : 'no .dump file in it'}: give the .dump file itself`,
      };
    file = join(file, pick);
  }
  const manifest = file.replace(/\.dump$/, '.manifest.json');
  if (!existsSync(manifest))
    return {
      message: `--dump ${arg}: no manifest beside it (${basename(manifest)}): pg.ts restores dumps made by \`pg.ts backup\`, which carry the row counts it verifies against`,
    };
  return { localDump: file, localManifest: manifest };
}

const isProblem = (x: unknown): x is Problem => typeof x === 'object' && x !== null && 'message' in x;

/** Read-only, in a dry run too: the container, the database, free space, the dump to restore. */
export async function gatherPg(
  probe: Probe,
  c: PgConfig,
  mode: PgMode,
  ctx: { runId: string; backupsDir: string },
  dumpArg?: string,
): Promise<Facts<PgFacts>> {
  const problems: Problem[] = [];
  const p = c.postgres;
  const where = p.container ? `container ${p.container}` : `compose service ${p.service} of project ${p.project}`;
  const empty: PgFacts = { container: '', server: '', db: null, pgdataFree: null, hostFree: null, taken: [] };
  const py = await probe({ kind: 'remote', argv: ['python3', '--version'] });
  if (py.code !== 0)
    return {
      facts: empty,
      problems: [{ message: 'python3 is not on the host (pg.ts runs its host side with it): install python3 there' }],
    };
  const found = (await probe(findContainer(c))).stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (found.length !== 1)
    return {
      facts: empty,
      problems: [
        {
          message: found.length
            ? `${where} has ${found.length} running containers (${found.join(', ')}): set postgres.container to the one to use`
            : `no running container for ${where}: start it (docker compose up -d ${p.service}), or set postgres.${p.container ? 'container' : 'project'} to the right one`,
        },
      ],
    };
  const container = found[0];

  let source: PgFacts['source'];
  if (mode === 'restore') {
    if (!dumpArg) problems.push({ message: 'restore needs --dump backups/<run>/ (a backup made by `pg.ts backup`)' });
    else {
      const d = findDump(dumpArg, p.db);
      if (isProblem(d)) problems.push(d);
      else {
        const manifest = JSON.parse(readFileSync(d.localManifest, 'utf8')) as Manifest;
        const size = statSync(d.localDump).size;
        if (size !== manifest.bytes)
          problems.push({
            message: `${d.localDump} is ${size} bytes, its manifest says ${manifest.bytes}: the file is damaged or incomplete; use another backup`,
          });
        source = { ...d, manifest };
      }
    }
  }
  const backupRun = source && basename(dirname(source.localDump));
  const hostCopy =
    backupRun && RUN_ID.test(backupRun) ? `${hostPgDir(backupRun)}/${basename(source!.localDump)}` : undefined;
  const names =
    mode === 'restore'
      ? [dbName(p.db, 'new', ctx.runId), dbName(p.db, 'old', ctx.runId)]
      : mode === 'reset'
        ? [dbName(p.db, 'new', ctx.runId), dbName(p.db, 'old', ctx.runId), dbName(p.db, 'check', ctx.runId)]
        : [dbName(p.db, 'check', ctx.runId)];
  const r = await probe(
    factsCmd(c, container, {
      names,
      run: ctx.runId,
      hostDir: hostPgDir(ctx.runId),
      ...(hostCopy ? { dump: hostCopy } : {}),
    }),
  );
  if (r.code !== 0)
    return {
      facts: { ...empty, container },
      problems: [
        { message: r.stderr.trim().split('\n').pop() ?? `reading the database's facts failed (exit ${r.code})` },
      ],
    };
  const f = JSON.parse(r.stdout) as {
    server: string;
    db: DbInfo | null;
    names: Record<string, boolean>;
    pgdataFree: number | null;
    hostFree: number | null;
    dump: { exists: boolean; sha256?: string | null } | null;
  };
  if (source && hostCopy && f.dump?.exists && f.dump.sha256 === source.manifest.sha256) source.hostCopy = hostCopy;
  // the local dump is what gets uploaded: damaged, it is refused here, before anything changes
  if (source && !source.hostCopy && !problems.length) {
    const got = await sha256File(source.localDump);
    if (got !== source.manifest.sha256)
      problems.push({
        message: `${source.localDump} does not match its manifest's sha256 (${got.slice(0, 12)}… ≠ ${source.manifest.sha256.slice(0, 12)}…): the file was damaged or changed since the backup; restore another backup`,
      });
  }
  const taken = names.filter((n) => f.names[n]);
  for (const n of taken)
    problems.push({
      message: `database ${n} exists already and was not made by this run (a name this run would use): drop or rename it, or start a new run`,
    });

  const dbBytes = f.db?.bytes ?? 0;
  if (mode !== 'restore' && !f.db)
    problems.push({
      message: `database ${p.db} does not exist in ${container}: set postgres.db to one that does (psql -l lists them)`,
    });
  if (mode !== 'restore' && f.db) {
    if (f.hostFree !== null && f.hostFree < dbBytes)
      problems.push({
        message: `the host has ${formatBytes(f.hostFree)} free for the host-side copy in ${hostPgDir(ctx.runId)}, the dump may need up to ${formatBytes(dbBytes)} (the database's size): free space on the host`,
      });
    const local = statfsSync(existsSync(ctx.backupsDir) ? ctx.backupsDir : dirname(ctx.backupsDir));
    if (local.bavail * local.bsize < dbBytes)
      problems.push({
        message: `${ctx.backupsDir} has ${formatBytes(local.bavail * local.bsize)} free, the dump may need up to ${formatBytes(dbBytes)}: free space here or pass --backups-dir on a bigger disk`,
      });
    if (c.backup.verify === 'restore' && f.pgdataFree !== null && f.pgdataFree < dbBytes)
      problems.push({
        message: `PGDATA has ${formatBytes(f.pgdataFree)} free, a trial restore needs about ${formatBytes(dbBytes)}: free space there, or set backup.verify: list (reads the whole dump without restoring it)`,
      });
  }
  if (mode === 'restore' && source) {
    const need = source.manifest.dbBytes ?? source.manifest.bytes * 3;
    if (!source.hostCopy && f.hostFree !== null && f.hostFree < source.manifest.bytes)
      problems.push({
        message: `the host has ${formatBytes(f.hostFree)} free in ${hostPgDir(ctx.runId)}, the dump to upload is ${formatBytes(source.manifest.bytes)}: free space on the host`,
      });
    if (f.pgdataFree !== null && f.pgdataFree < need)
      problems.push({
        message: `PGDATA has ${formatBytes(f.pgdataFree)} free, the restored copy needs about ${formatBytes(need)} beside the current database (kept until you drop it): free space there first`,
      });
  }
  return {
    facts: {
      container,
      server: f.server,
      db: f.db,
      pgdataFree: f.pgdataFree,
      hostFree: f.hostFree,
      taken,
      ...(source ? { source } : {}),
    },
    problems,
  };
}
