/**
 * Seed phase 4, made undoable, for any app migrated by its spec: after a successful migration, move the
 * spec's `cleanup.paths` (old virtualenvs, bare-metal service definitions) into a dated archive dir.
 * Nothing is deleted; `--rollback RUN_ID` puts everything back. A separate, explicitly confirmed command
 * (destructive: --yes or --interactive).
 *   npx tsx runbooks/cleanup.ts --spec runbooks/specs/sdlab.yaml [--dry-run | --interactive | --yes]
 */
import { runCli } from '../src/cli/main.ts';
import { sshTarget } from '../src/engine/ssh-config.ts';
import type { Runbook } from '../src/engine/runbook.ts';
import { cleanupSteps, gatherCleanup, type CleanupFacts } from '../src/migrate/cleanup.ts';
import { specExamples, specSchema } from '../src/migrate/spec.ts';

/** The cleanup runbook; `cleanup-chm.ts` is this one with CHM's spec as its default. */
export function cleanupRunbook(
  o: { name?: string; defaultConfig?: string; configFlag?: '--config' | '--spec'; migrate?: string } = {},
): Runbook<typeof specSchema, CleanupFacts> {
  const name = o.name ?? 'cleanup';
  return {
    name,
    command: `npx tsx runbooks/${name}.ts`,
    configFlag: o.configFlag ?? '--spec',
    defaultConfig: o.defaultConfig ?? 'runbooks/specs/sdlab.yaml',
    schema: specSchema,
    examples: specExamples,
    ssh: (s) => sshTarget(s.ssh),
    gather: (probe, s) => gatherCleanup(probe, s, o.migrate ?? 'runbooks/migrate.ts'),
    fingerprint: (f) => f,
    // the migration that made the containers: its --rollback waits until this cleanup is rolled back
    follows: (f) => f.migratedBy || undefined,
    steps: cleanupSteps,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(cleanupRunbook());
