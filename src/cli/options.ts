import { Command, InvalidArgumentError } from 'commander';
import { UserError } from '../util/errors.ts';
import { parseOrExit } from './parse.ts';

export interface CliOptions {
  config?: string;
  dryRun: boolean;
  out?: string;
  plan?: string;
  interactive: boolean;
  yes: boolean;
  resume?: string;
  rollback?: string;
  rollbackOnFailure: boolean;
  from?: string;
  to?: string;
  only?: string;
  failAt?: string;
  verbose: boolean;
  json: boolean;
  acceptNewHostKey: boolean;
  backupsDir?: string;
  /** List the runs the host knows (their journals' mirror) with their state, and who holds the lock. */
  runs: boolean;
  /** --resume/--rollback of a run another checkout holds: this one becomes its owner. */
  takeOver: boolean;
}

const RUN_ID = /^[0-9]{8}-[0-9]{6}-[a-z0-9]{4}$/;
const runId = (v: string) => {
  if (!RUN_ID.test(v)) throw new InvalidArgumentError(`not a run id (like 20261122-031500-ab12; see backups/)`);
  return v;
};

export function parseOptions(name: string, argv: string[]): CliOptions {
  const program = new Command(name)
    .description(`runbook ${name}: normal run, --dry-run rehearsal, or --interactive step by step`)
    .option('-c, --config <file>', "YAML config (default: the runbook's lab config)")
    .option('--spec <file>', "the app's spec (runbooks/migrate.ts; the same as --config)")
    .option('-n, --dry-run', 'print the exact plan (facts are read from the host) and change nothing', false)
    .option('--out <file>', 'with --dry-run: save the plan and the fingerprint of the facts it was made from')
    .option('--plan <file>', 'execute a saved plan; refused if the host changed since')
    .option('-i, --interactive', 'ask before each step (run, skip, show, roll back, quit)', false)
    .option('-y, --yes', 'confirm destructive steps without a prompt (needed without a TTY)', false)
    .option('--resume <run-id>', 'continue a failed, interrupted or killed run from its journal', runId)
    .option('--rollback <run-id>', 'undo a run (partial or complete) from its journal', runId)
    .option('--no-rollback', 'on failure, leave the state for inspection (resumable) instead of undoing')
    .option('--from <step>', 'start at this step')
    .option('--to <step>', 'stop after this step')
    .option('--only <step>', 'run just this step')
    .option('--fail-at <step>', 'rehearsal aid: fail on purpose after this step, to watch the rollback')
    .option('-v, --verbose', 'print every command and stack traces', false)
    .option('--json', 'JSON lines on stdout, for machines', false)
    .option('--backups-dir <dir>', 'where the local backups and journals go (default: backups/ in the project)')
    .option('--runs', 'list the runs the host knows (any runbook, any machine) with their state, and the lock', false)
    .option('--accept-new-host-key', 'trust an unknown host key on first connect and remember it', false)
    .option(
      '--take-over',
      'with --resume/--rollback: take over a run another checkout holds (it must be down or stopped)',
      false,
    )
    .allowExcessArguments(false);
  parseOrExit(program, argv);
  const o = program.opts();
  if (o.spec && o.config) throw new UserError('--spec and --config name the same file: give one');
  if (o.spec) o.config = o.spec;
  const opts: CliOptions = {
    ...(o as CliOptions),
    rollbackOnFailure: o.rollback !== false && typeof o.rollback !== 'boolean' ? true : o.rollback !== false,
  };
  // commander maps --rollback <id> and --no-rollback to the same key: split them.
  opts.rollback = typeof o.rollback === 'string' ? o.rollback : undefined;
  opts.rollbackOnFailure = o.rollback !== false;
  const modes = [
    opts.dryRun && '--dry-run',
    opts.resume && '--resume',
    opts.rollback && '--rollback',
    opts.plan && '--plan',
  ].filter(Boolean);
  if (modes.length > 1) throw new UserError(`${modes.join(' and ')} cannot be combined: pick one`);
  if (opts.out && !opts.dryRun) throw new UserError('--out saves a dry-run plan: add --dry-run');
  if (opts.only && (opts.from || opts.to)) throw new UserError('--only cannot be combined with --from/--to');
  if (opts.interactive && opts.json) throw new UserError('--interactive and --json cannot be combined');
  if (opts.takeOver && !opts.resume && !opts.rollback)
    throw new UserError('--take-over takes over an existing run: add --resume RUN_ID or --rollback RUN_ID');
  return opts;
}
