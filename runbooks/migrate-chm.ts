/**
 * Move the CHM chatbot from bare metal into Docker Compose, with nothing lost and a way back
 * from every step. See README.md; `--dry-run` prints the exact plan.
 *   npx tsx runbooks/migrate-chm.ts [--config runbooks/specs/chm.yaml (default) | runbooks/chm.lab.yaml] [--dry-run | --interactive | --yes]
 */
import { runCli } from '../src/cli/main.ts';
import { chmRunbookBase, type chmConfigSchema } from '../src/chm/runbook-base.ts';
import { chmFingerprint, gatherChm, type ChmFacts } from '../src/chm/facts.ts';
import { chmReport } from '../src/chm/report.ts';
import { backupKept } from '../src/migrate/ops.ts';
import { chmPlanNotes, chmSteps, settleCommands } from '../src/chm/steps.ts';
import type { Runbook } from '../src/engine/runbook.ts';

export const migrateChm: Runbook<typeof chmConfigSchema, ChmFacts> = {
  name: 'migrate-chm',
  ...chmRunbookBase,
  gather: (probe, c, { runId, resuming, backupsDir }) => gatherChm(probe, c, runId, resuming, backupsDir),
  fingerprint: chmFingerprint,
  steps: chmSteps,
  settle: (_c, runId) => settleCommands(runId),
  planNotes: chmPlanNotes,
  leftAfterRollback: (_c, runId) => backupKept(runId),
  report: chmReport,
};

if (import.meta.url === `file://${process.argv[1]}`) await runCli(migrateChm);
