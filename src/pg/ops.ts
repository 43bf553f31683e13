import { remote, sudo, type DownloadCommand, type RemoteCommand, type UploadCommand } from '../engine/command.ts';
import { HOST_STATE, runStateDir } from '../engine/files.ts';
import { joinScript } from '../engine/host-tool.ts';
import { Secret } from '../util/secret.ts';
import type { PgConfig } from './config.ts';

/** The host side of every operation (pgtool.py and its parts, joined into one script): run with python3 on the host, as root (the host backups are root's). */
export const PGTOOL_PARTS = ['pgtool.py', 'pgtool_dump.py', 'pgtool_swap.py', 'pgtool_settle.py'] as const;
const TOOL = joinScript(import.meta.url, PGTOOL_PARTS);

/** A database name as a file name: anything but [A-Za-z0-9._-] becomes _ (the manifest keeps the real name). */
export const fileSafe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || '_';

/** Where a run keeps its dump on the host (never removed by a rollback). */
export const hostPgDir = (runId: string) => `${HOST_STATE}/backups/${runId}/pg`;

export interface Dumps {
  /** On the host: the dump, its .sha256 beside it, the manifest. */
  hostDump: string;
  hostManifest: string;
  /** Here, in backups/<run>/. */
  localDump: string;
  localManifest: string;
}

export function dumpPaths(c: PgConfig, runId: string, runDir: string): Dumps {
  const f = fileSafe(c.postgres.db);
  return {
    hostDump: `${hostPgDir(runId)}/${f}.dump`,
    hostManifest: `${hostPgDir(runId)}/${f}.manifest.json`,
    localDump: `${runDir}/${f}.dump`,
    localManifest: `${runDir}/${f}.manifest.json`,
  };
}

/**
 * A name this run gives a database: the original's, cut to fit PostgreSQL's 63 bytes, plus
 * __<tag>_<run id>. `new`: a restored copy, `old`: the one it replaced, `check`: a trial restore.
 */
export function dbName(db: string, tag: 'new' | 'old' | 'check', runId: string): string {
  const suffix = `__${tag}_${runId.replace(/-/g, '_')}`;
  let head = db;
  while (Buffer.byteLength(head) + suffix.length > 63) head = [...head].slice(0, -1).join('');
  return head + suffix;
}

/** The run's own copy of pgtool.py on the host, beside its journal: a --resume or --rollback from any machine runs the code that did the work. */
export const hostToolPath = (runId: string) => `${runStateDir(runId)}/pgtool.py`;

/** Upload pgtool.py for this run, once, in its first step (every journaled call then names it by path, not as 20 KB of script). */
export function uploadTool(runId: string): UploadCommand {
  return {
    kind: 'upload',
    path: hostToolPath(runId),
    content: TOOL,
    mode: '600',
    sudo: true,
    says: `upload the pg tool for this run to ${hostToolPath(runId)}`,
  };
}

/**
 * One call of pgtool.py (the arguments are one JSON value: data, never spliced into a script): the run's
 * uploaded copy when `runId` is given (every step of a run), else sent inline (preflight and settle, which
 * run before a run's first step and must change nothing on the host).
 */
export function pgtool(
  c: PgConfig,
  container: string,
  op: string,
  args: Record<string, unknown>,
  words: { says: string; reads?: boolean },
  runId?: string,
): RemoteCommand {
  const pw = c.postgres.passwordEnv;
  const env = pw ? { PGPASSWORD: Secret.fromEnv(pw) } : undefined;
  const a = { container, user: c.postgres.user, maintenanceDb: c.postgres.maintenanceDb, ...args };
  const tool = runId ? [hostToolPath(runId)] : ['-c', TOOL];
  return sudo(['python3', ...tool, op, JSON.stringify(a)], { ...words, ...(env ? { env } : {}) });
}

/**
 * pg_dump -Fc in one snapshot, streamed here and teed into the host copy; sha256 equal on both ends;
 * the manifest's row counts read in the same snapshot (content sums come from the trial restore:
 * computed during the dump they cost a fifth of its speed, measured by npm run bench).
 */
export function dump(c: PgConfig, container: string, d: Dumps, expectedBytes: number): DownloadCommand {
  const cmd = pgtool(
    c,
    container,
    'dump',
    { db: c.postgres.db, out: d.hostDump, manifest: d.hostManifest, dbBytes: expectedBytes, run: runOf(d) },
    { says: '' },
    runOf(d),
  );
  return {
    kind: 'download',
    argv: cmd.argv,
    sudo: true,
    ...(cmd.env ? { env: cmd.env } : {}),
    localPath: d.localDump,
    sha256File: `${d.hostDump}.sha256`,
    label: d.localDump.split('/').pop(),
    expectedBytes,
    says: `pg_dump -Fc of database ${c.postgres.db} in one snapshot, streamed to ${d.localDump} and kept on the host (${d.hostDump}); sha256 equal on both ends; every table's row count read in the same snapshot`,
  };
}

/** The run id in a dump's host path (…/backups/<run>/pg/…): its sessions are named after it (settle finds them). */
const runOf = (d: Dumps) => /\/backups\/([^/]+)\/pg\//.exec(d.hostDump)?.[1];

export function fetchManifest(d: Dumps, what = 'tables, row counts, sha256'): DownloadCommand {
  return {
    kind: 'download',
    argv: ['cat', d.hostManifest],
    sudo: true,
    localPath: d.localManifest,
    label: d.localManifest.split('/').pop(),
    says: `copy the manifest (${what}) to ${d.localManifest}`,
  };
}

/** The trial restore has the snapshot's row counts in every table: its content sums join the manifest (what a restore is checked against). */
export function seal(c: PgConfig, container: string, db: string, manifest: string, runId?: string): RemoteCommand {
  return pgtool(
    c,
    container,
    'seal',
    { db, manifest, ...(runId ? { run: runId } : {}) },
    {
      says: `every table in ${db} has the snapshot's row count; record each table's content sum in the manifest`,
    },
    runId,
  );
}

export function uploadDump(localDump: string, hostDump: string): UploadCommand {
  return {
    kind: 'upload',
    path: hostDump,
    localPath: localDump,
    mode: '600',
    sudo: true,
    says: `upload ${localDump} to the host (${hostDump})`,
  };
}

export function removeUpload(hostDump: string): RemoteCommand {
  return sudo(['rm', '-f', hostDump], { says: `remove the uploaded copy ${hostDump} (the local dump stays)` });
}

export function load(
  c: PgConfig,
  container: string,
  file: string,
  sha256: string,
  into: string,
  runId: string,
): RemoteCommand {
  return pgtool(
    c,
    container,
    'load',
    { file, sha256, new: into, like: c.postgres.db, run: runId },
    {
      says: `create database ${into} (owner, encoding and locale as ${c.postgres.db}'s; commented with this run), check the dump's sha256, pg_restore it there in one transaction`,
    },
    runId,
  );
}

export function verify(c: PgConfig, container: string, db: string, manifest: string, runId: string): RemoteCommand {
  return pgtool(
    c,
    container,
    'verify',
    { db, manifest },
    {
      says: `every table in ${db} has the dump's row count and content sum (no table missing, none extra; row counts only for a backup verified by list)`,
      reads: true,
    },
    runId,
  );
}

export function listDump(c: PgConfig, container: string, file: string, manifest: string, runId: string): RemoteCommand {
  return pgtool(
    c,
    container,
    'list',
    { file, manifest },
    {
      says: `read the whole dump with pg_restore --list (sha256 checked first); it holds every table of the manifest`,
      reads: true,
    },
    runId,
  );
}

/** Drop a database only if its comment names this run: never one this run did not make. */
export function dropOurs(c: PgConfig, container: string, db: string, runId: string): RemoteCommand {
  return pgtool(
    c,
    container,
    'drop',
    { db, run: runId },
    { says: `drop database ${db}, only if this run made it` },
    runId,
  );
}

type State = { exists?: string[]; absent?: string[]; ours?: string[]; notOurs?: string[] };

/**
 * Renames in one transaction (new connections refused and open ones closed first), only from the
 * state `when`; `done`: made already. However it ends (renamed, already done, nothing to do, failed
 * or stopped by a signal), the databases named in `allow` (names of the done state) allow connections
 * again, read back before it reports ok; a lock held elsewhere fails it after postgres.lockTimeoutSeconds.
 */
export function rename(
  c: PgConfig,
  container: string,
  runId: string,
  pairs: [string, string][],
  when: State,
  done: State,
  o: { says: string; allow: string[]; create?: string; otherwise?: 'skip'; live?: string },
): RemoteCommand {
  return pgtool(
    c,
    container,
    'rename',
    {
      pairs,
      when,
      done,
      run: runId,
      allow: o.allow,
      lockTimeout: c.postgres.lockTimeoutSeconds,
      ...(o.create ? { create: o.create, like: pairs[0][1] } : {}),
      ...(o.otherwise ? { otherwise: o.otherwise } : {}),
      ...(o.live ? { live: o.live } : {}),
    },
    { says: o.says },
    runId,
  );
}

/**
 * What a lost session of this run left running (pg.ts's settle, before a --resume or --rollback):
 * its pgtool calls on the host, stopped by SIGTERM (a swap re-allows connections on its way out),
 * then its sessions in the server (a rename still waiting for a lock, a pg_restore), ended.
 */
export function settle(c: PgConfig, runId: string): RemoteCommand {
  const p = c.postgres;
  return pgtool(
    c,
    p.container ?? '',
    'settle',
    { run: runId, project: p.project, service: p.service },
    { says: `stop what a lost session of run ${runId} left running: its pgtool calls on the host, its sessions` },
  );
}

export function facts(c: PgConfig, container: string, extra: Record<string, unknown>): RemoteCommand {
  return pgtool(
    c,
    container,
    'facts',
    { db: c.postgres.db, ...extra },
    { says: "read the database's facts", reads: true },
  );
}

export function findContainer(c: PgConfig): RemoteCommand {
  const p = c.postgres;
  return remote(
    p.container
      ? ['docker', 'ps', '--filter', `name=^/${p.container}$`, '--format', '{{.Names}}']
      : [
          'docker',
          'ps',
          '--filter',
          `label=com.docker.compose.project=${p.project}`,
          '--filter',
          `label=com.docker.compose.service=${p.service}`,
          '--format',
          '{{.Names}}',
        ],
    { sudo: true, reads: true },
  );
}
