import type { Command } from 'commander';
import { UserError } from '../util/errors.ts';

/**
 * Parse argv with a commander program set to exitOverride: --help prints and exits 0; any parse error
 * becomes one operator line (UserError) that points at --help. Shared by every entry script.
 */
export function parseOrExit(program: Command, argv: string[]): void {
  program.exitOverride().configureOutput({ writeErr: () => {} });
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    const err = e as { code?: string; message: string };
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
      process.stdout.write(program.helpInformation());
      process.exit(0);
    }
    throw new UserError(`${err.message.replace(/^error: /, '')} (see --help)`);
  }
}
