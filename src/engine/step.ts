import type { Command, CommandResult } from './command.ts';

/** Something a step made, recorded in the journal so a rollback can name it. */
export interface Resource {
  type: 'volume' | 'container' | 'file' | 'dir' | 'lock' | 'service' | 'image' | 'backup';
  name: string;
  /** Where a file that was overwritten was kept, to put it back on rollback. */
  keptAt?: string;
}

/** One mutating command with its undo. Undo commands must be idempotent and remove only what this run made. */
export interface Action {
  cmd: Command;
  undo?: Command[];
  creates?: Resource[];
  /** Checks the result of a real run (throws to fail the step). Never runs in a dry run. */
  check?: (r: CommandResult) => void;
}

export interface PlanContext<C, F> {
  config: C;
  facts: F;
  runId: string;
  /** Local directory of this run: backups/<run-id>. */
  runDir: string;
}

export interface Step<C, F> {
  /** Stable id used by --from/--to/--only/--fail-at and in the journal: 'backup.chroma'. */
  id: string;
  title: string;
  /** Needs a typed confirmation in --interactive mode and --yes without a TTY. */
  destructive?: boolean;
  plan(ctx: PlanContext<C, F>): Action[];
}

export interface PlannedStep<C, F> {
  step: Step<C, F>;
  actions: Action[];
}
