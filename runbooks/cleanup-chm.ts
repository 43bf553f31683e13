/**
 * Seed phase 4, made undoable: after a successful CHM migration, move the old virtualenvs and the
 * bare-metal service definitions into a dated archive dir. Nothing is deleted; `--rollback RUN_ID`
 * puts everything back. A separate, explicitly confirmed command (destructive: --yes or --interactive).
 *   npx tsx runbooks/cleanup-chm.ts [--config runbooks/specs/chm.yaml (default) | runbooks/chm.lab.yaml] [--dry-run | --interactive | --yes]
 */
import { runCli } from '../src/cli/main.ts';
import { cleanupSteps, gatherCleanup, type CleanupFacts } from '../src/chm/cleanup.ts';
import { chmRunbookBase, type chmConfigSchema } from '../src/chm/runbook-base.ts';
import type { Runbook } from '../src/engine/runbook.ts';

export const cleanupChm: Runbook<typeof chmConfigSchema, CleanupFacts> = {
  name: 'cleanup-chm',
  ...chmRunbookBase,
  gather: (probe, c) => gatherCleanup(probe, c),
  fingerprint: (f) => f,
  steps: cleanupSteps,
};

if (import.meta.url === `file://${process.argv[1]}`) await runCli(cleanupChm);
