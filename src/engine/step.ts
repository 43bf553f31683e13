import type { Command, CommandResult } from './command.ts';

/** Something a step made, recorded in the journal so a rollback can name it. */
export interface Resource {
  type: 'volume' | 'container' | 'file' | 'dir' | 'lock' | 'service' | 'image' | 'backup' | 'database';
  name: string;
  /** Where a file that was overwritten was kept, to put it back on rollback. */
  keptAt?: string;
}

/**
 * What an undo does to data, declared so the runner can enforce the safety rules for every runbook:
 * - restores: puts back what was there (restart a service, restore a kept file, copy data back);
 * - removes-ours: removes what this run made and that holds no one's data (an image, a container);
 * - destroys-data: removes something that may hold data (a volume). Never run once the step that
 *   opened it to writes has begun (the data may exist nowhere else): the action's `keep` runs instead.
 */
export type UndoKind = 'restores' | 'removes-ours' | 'destroys-data';

/** One mutating command with its undo. Undo commands must be idempotent and remove only what this run made. */
export interface Action {
  cmd: Command;
  undo?: Command[];
  /** Default 'restores'. */
  undoKind?: UndoKind;
  /** For a destroys-data undo: what the rollback does instead once the data may be the only copy (record it as kept). */
  keep?: Command[];
  creates?: Resource[];
  /**
   * A change without an undo of its own because another one covers it, in words: "the put-back above"
   * (a file written after its old copy was kept), "removing the volume" (data copied into a volume this run made).
   */
  undoneBy?: string;
  /**
   * Runs in the background of the step's other actions: the runner starts it and goes on with the next
   * action at once (several alongside actions run one after another, in their order), and the step ends
   * only when it finished (a failure fails the step, once every action still running settled). For work
   * nothing else in the step reads: the snapshot of a database beside the streams of plain files.
   */
  alongside?: boolean;
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
  /**
   * From the start of this step on, what the run created may hold data that exists nowhere else
   * (the containers take writes): a rollback keeps it (destroys-data undos become keeps).
   */
  takesWrites?: boolean;
  /**
   * Every action can run again as it stands (idempotent, and its undo the same): a --resume after a cut inside
   * this step runs it again from its start, without undoing what it did first. For a step whose undo would
   * take back what the public already has (the gate open: closing it, stopping the containers, copying their
   * writes back), which a redo would then not put back.
   */
  redoOnResume?: boolean;
  plan(ctx: PlanContext<C, F>): Action[];
}

export interface PlannedStep<C, F> {
  step: Step<C, F>;
  actions: Action[];
}
