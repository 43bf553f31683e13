import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../engine/journal.ts';
import { formatBytes } from '../util/bytes.ts';
import { shJoin } from '../util/quote.ts';
import type { PgConfig } from './config.ts';
import type { Manifest, PgFacts, PgMode } from './facts.ts';
import { dbName, dumpPaths } from './ops.ts';

interface Ctx {
  config: PgConfig;
  facts: PgFacts;
  runId: string;
  runDir: string;
}

const done = (runDir: string) =>
  new Set(Journal.read(join(runDir, 'journal.jsonl')).flatMap((e) => (e.type === 'step-done' ? [e.step] : [])));
const rolledBack = (runDir: string) =>
  Journal.read(join(runDir, 'journal.jsonl')).some((e) => e.type === 'run-rolled-back');
const rows = (m: Manifest) => m.tables.reduce((n, t) => n + t.rows, 0);

/** What the operator needs after a pg.ts run: where the dump is, what it holds, what was swapped and kept, and the commands for the next move. */
export function pgLines(mode: PgMode, cmd: string, configArg: string, { config, facts, runId, runDir }: Ctx): string[] {
  const db = config.postgres.db;
  const ok = done(runDir);
  const lines: string[] = [];
  const dropCmd = (name: string) =>
    shJoin(['docker', 'exec', facts.container, 'dropdb', '-U', config.postgres.user, name]);
  if (mode !== 'restore') {
    const d = dumpPaths(config, runId, runDir);
    if (ok.has('backup.dump') && existsSync(d.localManifest)) {
      const m = JSON.parse(readFileSync(d.localManifest, 'utf8')) as Manifest;
      lines.push(
        `backup of ${db}: ${d.localDump} (${formatBytes(m.bytes)}, sha256 ${m.sha256.slice(0, 16)}…), ${m.tables.length} tables, ${rows(m)} rows, snapshot at ${m.at}`,
      );
      lines.push(`  host copy: ${d.hostDump} (same sha256)`);
      lines.push(
        ok.has('backup.verify')
          ? `  verified: ${config.backup.verify === 'restore' ? "a trial restore has every table's row count of the snapshot; content sums recorded" : 'pg_restore --list reads it whole (row counts only: no content sums)'}`
          : '  NOT verified (the run stopped before)',
      );
      lines.push(`  restore it with: ${cmd} restore${configArg} --dump ${runDir}/ --yes`);
    }
  }
  if (mode === 'reset' && ok.has('reset.swap') && !rolledBack(runDir))
    lines.push(
      `reset: ${db} is empty now; the database as it was is kept as ${dbName(db, 'old', runId)}: drop it when sure (${dropCmd(dbName(db, 'old', runId))}), or put it back with ${cmd} reset --rollback ${runId}${configArg}`,
    );
  if (mode === 'restore' && facts.source) {
    const m = facts.source.manifest;
    if (ok.has('restore.swap') && !rolledBack(runDir)) {
      lines.push(
        `restored ${db} from ${facts.source.localDump} (snapshot at ${m.at}): ${m.tables.length} tables, ${rows(m)} rows, each with the dump's row count${m.tables.every((t) => t.sum !== undefined) ? ' and content sum' : ' (the backup has no content sums: verified by list)'}`,
      );
      if (facts.db)
        lines.push(
          `  the database it replaced is kept as ${dbName(db, 'old', runId)}: drop it when sure (${dropCmd(dbName(db, 'old', runId))}), or swap back with ${cmd} restore --rollback ${runId}${configArg}`,
        );
    } else if (ok.has('restore.verify'))
      lines.push(`restored into ${dbName(db, 'new', runId)} and verified; not swapped in`);
  }
  return lines;
}

export function pgReport(
  mode: PgMode,
  cmd: string,
  configArg: string,
  ctx: Ctx & { timings: Record<string, number> },
): string {
  const lines = pgLines(mode, cmd, configArg, ctx);
  const t = Object.entries(ctx.timings)
    .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`)
    .join(', ');
  return [
    `# pg ${mode} of ${ctx.config.postgres.db}, run ${ctx.runId}`,
    '',
    `- container ${ctx.facts.container} (PostgreSQL ${ctx.facts.server})`,
    `- step times: ${t || 'none'}`,
    ...lines.map((l) => (l.startsWith('  ') ? `  - ${l.trim()}` : `- ${l}`)),
    '',
  ].join('\n');
}
