import { describe, reviveSecrets, says } from './command.ts';
import type { Command } from './command.ts';
import type { Executor, Progress } from '../exec/executor.ts';
import { errorMessage, isConnectionLost } from '../util/errors.ts';
import { Journal, pendingUndo, replay, type RunState } from './journal.ts';
import { TakenOver } from './lock.ts';
import type { PlannedStep, Resource, UndoKind } from './step.ts';

export type RunEvent =
  | { type: 'step-start'; id: string; title: string; index: number; total: number }
  | { type: 'step-done'; id: string; ms: number }
  | { type: 'step-skipped'; id: string; why: string }
  /**
   * what/undo: the exact commands; says/undoSays: the same in an operator's words; reads: a check
   * that changes nothing; keptAfter: for a destroys-data undo, the step from which it is never run.
   */
  | {
      type: 'action';
      id: string;
      what: string;
      undo: string[];
      says: string;
      undoSays: string[];
      reads: boolean;
      undoKind?: UndoKind;
      keptAfter?: string;
      undoneBy?: string;
      alongside?: boolean;
      dryRun: boolean;
    }
  | { type: 'progress'; id: string; progress: Progress }
  /** detail: the full command and everything it printed on stderr (shown with --verbose). */
  | { type: 'step-failed'; id: string; error: string; detail?: string }
  /** what: the undo in an operator's words; exact: the command. */
  | { type: 'undo'; id: string; what: string; exact: string; ok: boolean; error?: string; detail?: string }
  | { type: 'kept'; id: string; resources: Resource[] }
  | { type: 'info'; message: string };

export type StepDecision = 'run' | 'skip' | 'rollback' | 'quit';

export interface RunHooks {
  event(e: RunEvent): void;
  /** Interactive mode asks here; default runs every step. */
  beforeStep?(p: PlannedStep<unknown, unknown>, index: number): Promise<StepDecision>;
  /** True once the operator asked to stop (Ctrl-C): checked between atomic actions. */
  stopRequested?(): boolean;
}

export class Interrupted extends Error {
  constructor() {
    super('interrupted by the operator');
  }
}
export class QuitRequested extends Error {
  constructor(readonly rollback: boolean) {
    super(rollback ? 'the operator chose to roll back and quit' : 'the operator quit; the run can be resumed');
  }
}

export interface RunOutcome {
  ok: boolean;
  failedStep?: string;
  error?: string;
  undone: string[];
  undoFailures: string[];
  /** Kept on purpose by the rollback: they may hold the only copy of data. */
  kept: Resource[];
  rolledBack: boolean;
  stoppedResumable: boolean;
  /** The host could not be reached again after the connection was lost. */
  unreachable?: boolean;
  /** Another checkout took the run over while this one was cut off: this process did nothing more. */
  takenOver?: boolean;
  /** The operator chose to stop (--interactive): not a failure. */
  quit?: 'rollback' | 'stop';
}

export interface UndoOutcome {
  undone: string[];
  undoFailures: string[];
  kept: Resource[];
  unreachable?: boolean;
}

export interface ExecuteOptions {
  plan: PlannedStep<unknown, unknown>[];
  exec: Executor;
  journal?: Journal;
  /** State replayed from this run's journal when resuming: done steps are skipped, a partial one is undone first. */
  resume?: RunState;
  failAt?: string;
  noRollback?: boolean;
  /** False when --to/--only stopped short of the last step: the run stays open for --resume. */
  complete?: boolean;
  /** Run after a reconnect, before anything else touches the host: stop what the lost session left running. */
  settle?: Command[];
  hooks: RunHooks;
}

const SHORT_OUT = 2048;

/** After a lost connection: reconnect, then settle what the lost session left running. False: unreachable. */
async function recover(exec: Executor, settle: Command[], hooks: RunHooks): Promise<boolean> {
  hooks.event({ type: 'info', message: 'the connection to the host was lost: reconnecting' });
  if (!exec.reconnect || !(await exec.reconnect())) return false;
  hooks.event({ type: 'info', message: 'reconnected; stopping what the lost session left running on the host' });
  for (const cmd of settle) {
    const r = await exec.run(cmd);
    if (r.stdout.trim()) hooks.event({ type: 'info', message: `settled: ${r.stdout.trim().split('\n').pop()}` });
  }
  return true;
}

/**
 * The saga: run steps in order, journaling each action (with its undo) before it runs; on failure,
 * undo everything this run did, newest first, from the journal — the same path as --rollback.
 */
export async function executePlan(o: ExecuteOptions): Promise<RunOutcome> {
  const { plan, exec, journal, hooks } = o;
  const total = plan.length;
  let current: string | undefined;
  const keptAfter = plan.find((p) => p.step.takesWrites)?.step.id;
  try {
    for (const [i, p] of plan.entries()) {
      const id = p.step.id;
      current = id;
      const earlier = o.resume?.steps.find((s) => s.id === id);
      if (earlier?.status === 'done') {
        hooks.event({ type: 'step-skipped', id, why: 'done in the earlier attempt' });
        continue;
      }
      const redo = Boolean(earlier && journal && !exec.dryRun && p.step.redoOnResume);
      if (earlier && journal && !exec.dryRun && !redo) {
        // Partly done when the run stopped: undo its actions, then run the step again from the start.
        const u = await undoFromJournal(journal, exec, hooks, id, o.settle);
        if (u.undoFailures.length)
          throw new Error(`cannot redo ${id}: undoing its partial work failed: ${u.undoFailures[0]}`);
      }
      const decision = hooks.beforeStep ? await hooks.beforeStep(p, i) : 'run';
      if (decision === 'skip') {
        journal?.append({ type: 'step-skipped', step: id });
        hooks.event({ type: 'step-skipped', id, why: 'skipped by the operator' });
        continue;
      }
      if (decision === 'rollback') throw new QuitRequested(true);
      if (decision === 'quit') throw new QuitRequested(false);

      const t0 = Date.now();
      journal?.append({ type: 'step-start', step: id, ...(p.step.takesWrites ? { takesWrites: true } : {}) });
      // Partly done, and every action of it can run again as it stands: again from its start, nothing undone.
      if (redo) journal?.append({ type: 'step-redo', step: id });
      hooks.event({ type: 'step-start', id, title: p.step.title, index: i, total });
      // Actions marked alongside run one after another in the background of the others: the step waits
      // for them before it ends, and before it fails (nothing of a step still runs when its undo starts).
      // Each is announced and journaled in the plan's order (so a dry run and the journal read as the plan).
      const idle: Promise<unknown> = Promise.resolve();
      let lane = idle;
      let backgroundError: unknown;
      let failing = false; // a foreground action failed: what is still queued behind the lane never starts
      try {
        for (const [index, a] of p.actions.entries()) {
          const what = describe(a.cmd);
          hooks.event({
            type: 'action',
            id,
            what,
            undo: (a.undo ?? []).map(describe),
            says: says(a.cmd),
            undoSays: (a.undo ?? []).map(says),
            reads: Boolean(a.cmd.reads),
            ...(a.undoKind ? { undoKind: a.undoKind } : {}),
            ...(a.undoKind === 'destroys-data' && keptAfter ? { keptAfter } : {}),
            ...(a.undoneBy ? { undoneBy: a.undoneBy } : {}),
            ...(a.alongside ? { alongside: true } : {}),
            dryRun: exec.dryRun,
          });
          journal?.append({
            type: 'action',
            step: id,
            index,
            what,
            undo: a.undo ?? [],
            creates: a.creates ?? [],
            ...(a.undoKind ? { undoKind: a.undoKind } : {}),
            ...(a.keep ? { keep: a.keep } : {}),
          });
          const run = async () => {
            const ta = Date.now();
            const r = await exec.run(a.cmd, {
              onProgress: (progress) => hooks.event({ type: 'progress', id, progress }),
            });
            if (!exec.dryRun) a.check?.(r);
            const out = r.stdout.trim();
            journal?.append({
              type: 'action-done',
              step: id,
              index,
              ms: Date.now() - ta,
              ...(out && out.length <= SHORT_OUT ? { out } : {}),
            });
          };
          if (a.alongside) {
            const inLane = () => (backgroundError || failing ? undefined : run());
            // The first starts at once (before the next action), the others when the one before finished.
            lane = (lane === idle ? run() : lane.then(inLane)).catch((e) => {
              backgroundError ??= e;
            });
            continue;
          }
          await run();
          if (backgroundError) break;
          if (hooks.stopRequested?.()) throw new Interrupted();
        }
      } catch (e) {
        failing = true;
        await lane;
        throw e;
      }
      await lane;
      if (backgroundError) throw backgroundError;
      if (hooks.stopRequested?.()) throw new Interrupted();
      if (o.failAt === id) throw new Error(`failure injected by --fail-at ${id}`);
      journal?.append({ type: 'step-done', step: id, ms: Date.now() - t0 });
      hooks.event({ type: 'step-done', id, ms: Date.now() - t0 });
    }
    if (o.complete !== false) journal?.append({ type: 'run-done' });
    return { ok: true, undone: [], undoFailures: [], kept: [], rolledBack: false, stoppedResumable: false };
  } catch (e) {
    const error = errorMessage(e);
    const step = current ?? '(none)';
    journal?.append({ type: 'step-failed', step, error });
    journal?.append({ type: 'run-failed', step, error });
    const failed = e as { command?: string; result?: { stderr?: string } };
    const detail = failed.command ? `${failed.command}\n${failed.result?.stderr ?? ''}`.trim() : undefined;
    // The operator's decision is not a failure: said as what it is.
    if (e instanceof QuitRequested) hooks.event({ type: 'info', message: `before ${step}: ${error}` });
    else hooks.event({ type: 'step-failed', id: step, error, ...(detail ? { detail } : {}) });
    const quit = e instanceof QuitRequested ? { quit: e.rollback ? ('rollback' as const) : ('stop' as const) } : {};
    const stop = {
      ok: false,
      failedStep: step,
      error,
      undone: [],
      undoFailures: [],
      kept: [],
      rolledBack: false,
      stoppedResumable: true,
      ...quit,
    };
    if (isConnectionLost(e) && !exec.dryRun) {
      // The lost session may have left work running on the host: nothing more runs until it is settled.
      try {
        if (!(await recover(exec, o.settle ?? [], hooks))) return { ...stop, unreachable: true };
      } catch (t) {
        // Another checkout owns the run now: it goes on or rolls back from the host's journal; this process stops.
        if (t instanceof TakenOver) return { ...stop, error: t.message, takenOver: true };
        throw t;
      }
    }
    const wantRollback = e instanceof QuitRequested ? e.rollback : !o.noRollback;
    if (!wantRollback || !journal || exec.dryRun) return stop;
    const u = await undoFromJournal(journal, exec, hooks, undefined, o.settle);
    return {
      ok: false,
      failedStep: step,
      error,
      ...u,
      rolledBack: u.undoFailures.length === 0,
      stoppedResumable: false,
      ...quit,
    };
  }
}

/**
 * Undo, newest first, every action of this run not yet undone (optionally of one step only), with
 * the safety rules every runbook gets:
 * - an undo is recorded as done only when it was seen to succeed;
 * - the first undo that fails stops the rollback there: no later undo runs (a later one may remove
 *   the only copy of what the failed one was bringing back); running the rollback again resumes it;
 * - once a step that opened the run's resources to writes has begun, destroys-data undos never run:
 *   the resources are kept (the action's `keep` records them) and reported;
 * - a lost connection is recovered (reconnect, settle) and the undo retried once (undos are idempotent).
 */
export async function undoFromJournal(
  journal: Journal,
  exec: Executor,
  hooks: RunHooks,
  onlyStep?: string,
  settle: Command[] = [],
): Promise<UndoOutcome> {
  const state = replay(Journal.read(journal.path));
  const undone: string[] = [];
  const undoFailures: string[] = [];
  const kept: Resource[] = [];
  const touchedSteps = new Set<string>();
  let unreachable = false;
  for (const { step, action } of pendingUndo(state, onlyStep)) {
    touchedSteps.add(step);
    if (action.undoKind === 'destroys-data' && state.tookWrites) {
      for (const cmd of action.keep) await runUndo(exec, hooks, cmd, settle).catch(() => undefined);
      journal.append({ type: 'undo-kept', step, index: action.index, kept: action.creates });
      kept.push(...action.creates);
      hooks.event({ type: 'kept', id: step, resources: action.creates });
      continue;
    }
    let failed: string | undefined;
    for (const journaled of action.undo as Command[]) {
      const cmd = reviveSecrets(journaled);
      try {
        await runUndo(exec, hooks, cmd, settle);
        hooks.event({ type: 'undo', id: step, what: says(cmd), exact: describe(cmd), ok: true });
      } catch (e) {
        if (e instanceof TakenOver) throw e; // another checkout owns the run now: nothing more of ours, not even a journal line
        failed = errorMessage(e);
        unreachable = e instanceof HostUnreachable;
        const stderr = (e as { result?: { stderr?: string } }).result?.stderr;
        hooks.event({
          type: 'undo',
          id: step,
          what: says(cmd),
          exact: describe(cmd),
          ok: false,
          error: failed,
          ...(stderr ? { detail: stderr } : {}),
        });
        break;
      }
    }
    if (failed) {
      journal.append({ type: 'undo-failed', step, index: action.index, error: failed });
      undoFailures.push(`${step}: ${failed}`);
      break; // stop here: nothing older is undone until this one is
    }
    journal.append({ type: 'undo-done', step, index: action.index });
    if (action.undo.length) undone.push(`${step}: ${action.what}`);
  }
  if (undoFailures.length === 0) {
    for (const s of touchedSteps) journal.append({ type: 'step-rolled-back', step: s });
    if (!onlyStep) journal.append({ type: 'run-rolled-back' });
  }
  return { undone, undoFailures, kept: [...state.kept, ...kept], ...(unreachable ? { unreachable } : {}) };
}

class HostUnreachable extends Error {}

/** One undo command; on a lost connection, recover and try it once more. */
async function runUndo(exec: Executor, hooks: RunHooks, cmd: Command, settle: Command[]): Promise<void> {
  try {
    await exec.run(cmd);
  } catch (e) {
    if (!isConnectionLost(e)) throw e;
    if (!(await recover(exec, settle, hooks)))
      throw new HostUnreachable(`${errorMessage(e)}; the host cannot be reached again`);
    await exec.run(cmd);
  }
}
