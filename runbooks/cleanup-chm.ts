/**
 * Seed phase 4 for CHM: the generic cleanup (runbooks/cleanup.ts) with CHM's spec as its default. After a
 * successful migration, move the old virtualenvs and the bare-metal service definitions into a dated
 * archive dir; nothing is deleted, `--rollback RUN_ID` puts everything back.
 *   npx tsx runbooks/cleanup-chm.ts [--config runbooks/specs/chm.yaml (default)] [--dry-run | --interactive | --yes]
 */
import { runCli } from '../src/cli/main.ts';
import { cleanupRunbook } from './cleanup.ts';

export const cleanupChm = cleanupRunbook({
  name: 'cleanup-chm',
  defaultConfig: 'runbooks/specs/chm.yaml',
  configFlag: '--config',
  migrate: 'runbooks/migrate-chm.ts',
});

if (import.meta.url === `file://${process.argv[1]}`) await runCli(cleanupChm);
