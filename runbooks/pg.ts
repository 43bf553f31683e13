/**
 * A compose PostgreSQL (seeds 001, 002): back it up, restore a backup, or reset it, over SSH.
 *   npx tsx runbooks/pg.ts backup  --config runbooks/pg/dimini.yaml [--dry-run]
 *   npx tsx runbooks/pg.ts restore --config runbooks/pg/dimini.yaml --dump backups/<run>/ [--yes]
 *   npx tsx runbooks/pg.ts reset   --config runbooks/pg/dimini.yaml --confirm <db>
 *   npx tsx runbooks/pg.ts backups --config runbooks/pg/dimini.yaml   (the backups here, newest first)
 * backup: pg_dump -Fc in one snapshot, streamed here and kept on the host, sha256 on both ends,
 * verified by a trial restore. restore: into a new database, verified table by table, then swapped
 * in by rename (the old one kept). reset: after a verified backup, an empty database takes the
 * name (the old one kept). --rollback swaps back.
 */
import { relative, resolve } from 'node:path';
import { PROJECT_ROOT, runCli } from '../src/cli/main.ts';
import { loadConfig } from '../src/engine/config.ts';
import type { Runbook } from '../src/engine/runbook.ts';
import { sshTarget } from '../src/engine/ssh-config.ts';
import { pgExamples, pgSchema } from '../src/pg/config.ts';
import { gatherPg, type PgFacts, type PgMode } from '../src/pg/facts.ts';
import { dbName, hostPgDir, settle } from '../src/pg/ops.ts';
import { pgLines, pgReport } from '../src/pg/report.ts';
import { pgSteps } from '../src/pg/steps.ts';
import { listBackups } from '../src/pg/backups.ts';
import { formatBytes } from '../src/util/bytes.ts';
import { UserError } from '../src/util/errors.ts';

const CMD = 'npx tsx runbooks/pg.ts';
const DEFAULT_CONFIG = 'runbooks/pg/dimini.yaml';

export function pgRunbook(
  mode: PgMode,
  o: { dump?: string; configArg?: string } = {},
): Runbook<typeof pgSchema, PgFacts> {
  const configArg = o.configArg ? ` --config ${o.configArg}` : '';
  return {
    name: `pg-${mode}`,
    command: `${CMD} ${mode}${o.dump ? ` --dump ${o.dump}` : ''}`,
    defaultConfig: DEFAULT_CONFIG,
    schema: pgSchema,
    examples: pgExamples,
    ssh: (c) => sshTarget(c.ssh),
    gather: (probe, c, ctx) => gatherPg(probe, c, mode, ctx, o.dump),
    fingerprint: (f) => ({
      ...f,
      pgdataFree: undefined,
      hostFree: undefined,
      db: f.db && { ...f.db, bytes: undefined, connections: undefined },
    }),
    steps: pgSteps(mode),
    // before a --resume or --rollback touches anything: a lost session's pgtool may still be renaming
    settle: (c, runId) => [settle(c, runId)],
    planNotes: (c, f) => [
      `database ${c.postgres.db} in container ${f.container} (PostgreSQL ${f.server}${f.db ? `, ${(f.db.bytes / 1e6).toFixed(1)} MB` : ', does not exist yet'})`,
      ...(mode === 'restore' && f.source
        ? [
            `from ${f.source.localDump} (database ${f.source.manifest.db}, snapshot at ${f.source.manifest.at}; ${f.source.hostCopy ? `its host copy ${f.source.hostCopy} is intact: no upload` : 'uploaded to the host'})`,
          ]
        : []),
      'nothing is ever dropped but what this run made and never swapped in: a database replaced or emptied is kept under a new name until you drop it',
    ],
    leftAfterRollback: (c, runId) => [
      `kept on purpose: the host-side backups in ${hostPgDir(runId)}, if any (never deleted by a rollback)`,
      ...(mode === 'reset'
        ? [
            `kept on purpose: ${dbName(c.postgres.db, 'new', runId)}, the emptied database, if the reset happened (it may hold writes): drop it when sure`,
          ]
        : []),
    ],
    report: (ctx) => pgReport(mode, CMD, configArg, ctx),
    summary: (ctx) => ({
      lines: pgLines(mode, CMD, configArg, ctx),
      data: { mode, db: ctx.config.postgres.db, runId: ctx.runId },
    }),
  };
}

export const USAGE = `usage: ${CMD} MODE --config FILE [options]
  backup    pg_dump -Fc in one snapshot, here and on the host, sha256 both ends, verified by a trial restore
  restore   --dump backups/<run>/: into a new database, verified table by table, swapped in (the old one kept); --yes
  reset     --confirm DB: after a verified backup, an empty database takes the name (the old one kept)
  backups   list this database's backups here, newest first, with the command to restore each
  ${CMD} MODE --help lists the options (--dry-run, --rollback RUN, --resume RUN, --json, …)`;

/** `pg.ts backups`: local only (no SSH): this database's backups, newest first, and how to restore each. */
function printBackups(argv: string[]): number {
  const val = (f: string) => {
    const i = argv.findIndex((a) => a === f || (f === '--config' && a === '-c'));
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const configArg = val('--config');
  const db = loadConfig(resolve(configArg ?? resolve(PROJECT_ROOT, DEFAULT_CONFIG)), pgSchema, pgExamples).postgres.db;
  const dir = resolve(val('--backups-dir') ?? resolve(PROJECT_ROOT, 'backups'));
  const list = listBackups(dir, db);
  if (argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ type: 'backups', db, dir, backups: list })}\n`);
    return 0;
  }
  if (!list.length) {
    process.stdout.write(
      `no backups of ${db} in ${dir}: make one with ${CMD} backup${configArg ? ` --config ${configArg}` : ''}\n`,
    );
    return 0;
  }
  process.stdout.write(`backups of ${db} in ${dir}, newest first:\n`);
  for (const b of list)
    process.stdout.write(
      `  ${b.runId}  snapshot ${b.at}  ${formatBytes(b.bytes)}, ${b.tables} tables, ${b.rows} rows; a restore checks ${b.checks}${b.problem ? `; NOT USABLE: ${b.problem}` : `\n      ${CMD} restore${configArg ? ` --config ${configArg}` : ''} --dump ${relative(process.cwd(), b.dir) || '.'}/ --yes`}\n`,
    );
  return 0;
}

/** pg.ts's own arguments: the mode first; --dump FILE (restore) and --confirm NAME (reset) are taken out, the rest go to the runbook CLI. */
export function parsePgArgs(argv: string[]): { mode: PgMode; dump?: string; confirm?: string; rest: string[] } {
  const [mode, ...args] = argv;
  if (mode !== 'backup' && mode !== 'restore' && mode !== 'reset')
    throw new UserError(
      `${mode ? `unknown mode '${mode}'` : 'no mode given'}: run \`${CMD} backup|restore|reset|backups --config FILE\` (${CMD} --help says more)`,
      2,
    );
  const rest: string[] = [];
  let dump: string | undefined;
  let confirm: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const val = (flag: string) => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
      if (v === undefined || v === '') throw new UserError(`${flag} needs a value`, 2);
      return v;
    };
    if (a === '--dump' || a.startsWith('--dump=')) dump = val('--dump');
    else if (a === '--confirm' || a.startsWith('--confirm=')) confirm = val('--confirm');
    else rest.push(a);
  }
  if (dump && mode !== 'restore') throw new UserError('--dump is for restore only', 2);
  if (confirm !== undefined && mode !== 'reset') throw new UserError('--confirm is for reset only', 2);
  return { mode, dump, confirm, rest };
}

/** reset empties the database the app uses: only once the operator typed its name (--confirm NAME, or at the prompt). */
async function confirmReset(rest: string[], confirm: string | undefined): Promise<string[]> {
  const has = (...f: string[]) => rest.some((a) => f.includes(a));
  if (has('--dry-run', '-n', '--rollback', '--resume', '--help', '-h')) return rest;
  const ci = rest.findIndex((a) => a === '--config' || a === '-c');
  const path = resolve(ci >= 0 && rest[ci + 1] ? rest[ci + 1] : resolve(PROJECT_ROOT, DEFAULT_CONFIG));
  const db = loadConfig(path, pgSchema, pgExamples).postgres.db;
  let typed = confirm;
  if (typed === undefined && process.stdin.isTTY && process.stdout.isTTY && !has('--json')) {
    const { input } = await import('@inquirer/prompts');
    typed = await input({
      message: `reset empties database ${db} (after a verified backup; the old one is kept under a new name). Type its name to confirm:`,
    });
  }
  if (typed === undefined)
    throw new UserError(
      `reset replaces database ${db} with an empty one (after a verified backup; the old one is kept): confirm by typing its name: --confirm ${db}`,
      2,
    );
  if (typed !== db)
    throw new UserError(
      `the name typed (${JSON.stringify(typed)}) is not the database's (${db}): nothing was changed`,
      2,
    );
  return has('--yes', '-y') ? rest : [...rest, '--yes'];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let parsed: ReturnType<typeof parsePgArgs>;
  let rest: string[];
  const argv = process.argv.slice(2);
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  try {
    if (argv[0] === 'backups') process.exit(printBackups(argv.slice(1)));
    parsed = parsePgArgs(argv);
    rest = parsed.mode === 'reset' ? await confirmReset(parsed.rest, parsed.confirm) : parsed.rest;
  } catch (e) {
    process.stderr.write(`pg: error: ${(e as Error).message}\n`);
    process.exit(e instanceof UserError ? e.exitCode : 1);
  }
  const ci = rest.findIndex((a) => a === '--config' || a === '-c');
  const configArg = ci >= 0 ? rest[ci + 1] : undefined;
  const dump = parsed.dump && (relative(process.cwd(), resolve(parsed.dump)) || '.');
  await runCli(pgRunbook(parsed.mode, { dump, configArg }), rest);
}
