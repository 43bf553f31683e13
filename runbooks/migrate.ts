/**
 * Move any bare-metal app described by a spec onto Docker Compose, with nothing lost and a way back
 * from every step: its services (supervisor, pm2, systemd), its data (files, SQLite, ChromaDB, a host
 * PostgreSQL), its routes through an nginx reverse proxy. See README.md ("Writing a spec").
 *   npx tsx runbooks/migrate.ts --spec runbooks/specs/sdlab.yaml [--dry-run | --interactive | --yes]
 */
import { runCli } from '../src/cli/main.ts';
import { sshTarget } from '../src/engine/ssh-config.ts';
import type { Runbook } from '../src/engine/runbook.ts';
import { gatherSpec, specFingerprint, type SpecFacts } from '../src/migrate/facts.ts';
import { backupKept, settleCommands } from '../src/migrate/ops.ts';
import { publicNow } from '../src/migrate/public-now.ts';
import { specReport } from '../src/migrate/report.ts';
import { specExamples, specSchema } from '../src/migrate/spec.ts';
import { specPlanNotes, specSteps } from '../src/migrate/steps.ts';

/** The migration runbook; `migrate-chm.ts` is this one with CHM's spec as its default. */
export function migrateRunbook(
  o: { name?: string; defaultConfig?: string; configFlag?: '--config' | '--spec' } = {},
): Runbook<typeof specSchema, SpecFacts> {
  const name = o.name ?? 'migrate';
  const cmd = `npx tsx runbooks/${name}.ts`;
  const configFlag = o.configFlag ?? '--spec';
  return {
    name,
    command: cmd,
    configFlag,
    defaultConfig: o.defaultConfig ?? 'runbooks/specs/sdlab.yaml',
    schema: specSchema,
    examples: specExamples,
    ssh: (s) => sshTarget(s.ssh),
    gather: (probe, s, { runId, resuming, backupsDir }) => gatherSpec(probe, s, runId, resuming, backupsDir),
    fingerprint: specFingerprint,
    steps: specSteps,
    settle: (_s, runId) => settleCommands(runId),
    planNotes: specPlanNotes,
    leftAfterRollback: (_s, runId) => backupKept(runId),
    publicNow,
    report: specReport(o.defaultConfig ? cmd : `${cmd} ${configFlag} FILE`),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(migrateRunbook());
