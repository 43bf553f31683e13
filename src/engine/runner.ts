import { describe } from './command.ts';
import type { Command } from './command.ts';
import type { Executor, Progress } from '../exec/executor.ts';
import { errorMessage } from '../util/errors.ts';
import { Journal, pendingUndo, replay, type RunState } from './journal.ts';
import type { PlannedStep } from './step.ts';

export type RunEvent =
  | { type: 'step-start'; id: string; title: string; index: number; total: number }
  | { type: 'step-done'; id: string; ms: number }
  | { type: 'step-skipped'; id: string; why: string }
  | { type: 'action'; id: string; what: string; undo: string[]; dryRun: boolean }
  | { type: 'progress'; id: string; progress: Progress }
  | { type: 'step-failed'; id: string; error: string }
  | { type: 'undo'; id: string; what: string; ok: boolean; error?: string }
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
  rolledBack: boolean;
  stoppedResumable: boolean;
}

export interface ExecuteOptions {
  plan: PlannedStep<any, any>[];
  exec: Executor;
  journal?: Journal;
  /** State replayed from this run's journal when resuming: done steps are skipped, a partial one is undone first. */
  resume?: RunState;
  failAt?: string;
  noRollback?: boolean;
  /** False when --to/--only stopped short of the last step: the run stays open for --resume. */
  complete?: boolean;
  hooks: RunHooks;
}

/**
 * The saga: run steps in order, journaling each action (with its undo) before it runs; on failure,
 * undo everything this run did, newest first, from the journal — the same path as --rollback.
 */
export async function executePlan(o: ExecuteOptions): Promise<RunOutcome> {
  const { plan, exec, journal, hooks } = o;
  const total = plan.length;
  let current: string | undefined;
  try {
    for (const [i, p] of plan.entries()) {
      const id = p.step.id;
      current = id;
      const earlier = o.resume?.steps.find((s) => s.id === id);
      if (earlier?.status === 'done') {
        hooks.event({ type: 'step-skipped', id, why: 'done in the earlier attempt' });
        continue;
      }
      if (earlier && journal && !exec.dryRun) {
        // Partly done when the run stopped: undo its actions, then run the step again from the start.
        await undoFromJournal(journal, exec, hooks, id);
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
      journal?.append({ type: 'step-start', step: id });
      hooks.event({ type: 'step-start', id, title: p.step.title, index: i, total });
      for (const [index, a] of p.actions.entries()) {
        const what = describe(a.cmd);
        hooks.event({ type: 'action', id, what, undo: (a.undo ?? []).map(describe), dryRun: exec.dryRun });
        journal?.append({ type: 'action', step: id, index, what, undo: a.undo ?? [], creates: a.creates ?? [] });
        const ta = Date.now();
        const r = await exec.run(a.cmd, { onProgress: (progress) => hooks.event({ type: 'progress', id, progress }) });
        if (!exec.dryRun) a.check?.(r);
        journal?.append({ type: 'action-done', step: id, index, ms: Date.now() - ta });
        if (hooks.stopRequested?.()) throw new Interrupted();
      }
      if (o.failAt === id) throw new Error(`failure injected by --fail-at ${id}`);
      journal?.append({ type: 'step-done', step: id, ms: Date.now() - t0 });
      hooks.event({ type: 'step-done', id, ms: Date.now() - t0 });
    }
    if (o.complete !== false) journal?.append({ type: 'run-done' });
    return { ok: true, undone: [], undoFailures: [], rolledBack: false, stoppedResumable: false };
  } catch (e) {
    const error = errorMessage(e);
    const step = current ?? '(none)';
    journal?.append({ type: 'step-failed', step, error });
    journal?.append({ type: 'run-failed', step, error });
    hooks.event({ type: 'step-failed', id: step, error });
    const wantRollback = e instanceof QuitRequested ? e.rollback : !o.noRollback;
    if (!wantRollback || !journal || exec.dryRun) {
      return { ok: false, failedStep: step, error, undone: [], undoFailures: [], rolledBack: false, stoppedResumable: true };
    }
    const u = await undoFromJournal(journal, exec, hooks);
    return { ok: false, failedStep: step, error, ...u, rolledBack: u.undoFailures.length === 0, stoppedResumable: false };
  }
}

/** Undo, newest first, every action of this run not yet undone (optionally of one step only). */
export async function undoFromJournal(
  journal: Journal,
  exec: Executor,
  hooks: RunHooks,
  onlyStep?: string,
): Promise<{ undone: string[]; undoFailures: string[] }> {
  const state = replay(Journal.read(journal.path));
  const undone: string[] = [];
  const undoFailures: string[] = [];
  const touchedSteps = new Set<string>();
  for (const { step, action } of pendingUndo(state, onlyStep)) {
    touchedSteps.add(step);
    let failed: string | undefined;
    for (const cmd of action.undo as Command[]) {
      try {
        await exec.run(cmd);
        hooks.event({ type: 'undo', id: step, what: describe(cmd), ok: true });
      } catch (e) {
        failed = errorMessage(e);
        hooks.event({ type: 'undo', id: step, what: describe(cmd), ok: false, error: failed });
        break;
      }
    }
    if (failed) {
      journal.append({ type: 'undo-failed', step, index: action.index, error: failed });
      undoFailures.push(`${step}: ${failed}`);
    } else {
      journal.append({ type: 'undo-done', step, index: action.index });
      if (action.undo.length) undone.push(`${step}: ${action.what}`);
    }
  }
  if (undoFailures.length === 0) {
    for (const s of touchedSteps) journal.append({ type: 'step-rolled-back', step: s });
    if (!onlyStep) journal.append({ type: 'run-rolled-back' });
  }
  return { undone, undoFailures };
}
