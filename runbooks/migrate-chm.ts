/**
 * Move the CHM chatbot from bare metal into Docker Compose, with nothing lost and a way back from
 * every step: the generic migration (runbooks/migrate.ts) with CHM's spec as its default. See README.md;
 * `--dry-run` prints the exact plan.
 *   npx tsx runbooks/migrate-chm.ts [--config runbooks/specs/chm.yaml (default)] [--dry-run | --interactive | --yes]
 */
import { runCli } from '../src/cli/main.ts';
import { migrateRunbook } from './migrate.ts';

export const migrateChm = migrateRunbook({
  name: 'migrate-chm',
  defaultConfig: 'runbooks/specs/chm.yaml',
  configFlag: '--config',
});

if (import.meta.url === `file://${process.argv[1]}`) await runCli(migrateChm);
