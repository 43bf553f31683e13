import { describe, says, type Command } from '../engine/command.ts';
import type { PlannedStep, UndoKind } from '../engine/step.ts';
import { formatBytes } from '../util/bytes.ts';

/** One action as the operator reads it: what it does, what undoes it, and the exact commands one flag away. */
export interface ActionView {
  says: string;
  reads: boolean;
  exact: string;
  undo: { says: string; exact: string }[];
  undoKind?: UndoKind;
  undoneBy?: string;
  /** Runs in the background of the step's later actions (Action.alongside). */
  alongside?: boolean;
}

/** From a planned action. */
export function actionView(a: {
  cmd: Command;
  undo?: Command[];
  undoKind?: UndoKind;
  undoneBy?: string;
  alongside?: boolean;
}): ActionView {
  return {
    says: says(a.cmd),
    reads: Boolean(a.cmd.reads),
    exact: describe(a.cmd),
    undo: (a.undo ?? []).map((u) => ({ says: says(u), exact: describe(u) })),
    ...(a.undoKind ? { undoKind: a.undoKind } : {}),
    ...(a.undoneBy ? { undoneBy: a.undoneBy } : {}),
    ...(a.alongside ? { alongside: true } : {}),
  };
}

/** From the runner's action event. */
export function eventView(e: {
  what: string;
  undo: string[];
  says: string;
  undoSays: string[];
  reads: boolean;
  undoKind?: UndoKind;
  undoneBy?: string;
  alongside?: boolean;
}): ActionView {
  return {
    says: e.says,
    reads: e.reads,
    exact: e.what,
    undo: e.undoSays.map((s, i) => ({ says: s, exact: e.undo[i] })),
    ...(e.undoKind ? { undoKind: e.undoKind } : {}),
    ...(e.undoneBy ? { undoneBy: e.undoneBy } : {}),
    ...(e.alongside ? { alongside: true } : {}),
  };
}

/**
 * The lines of one action in the plan (and in --interactive's "show"): `+` a change, `·` a check,
 * `↩` its undo; with verbose, each followed by the exact command (`$`).
 */
export function actionLines(v: ActionView, verbose: boolean, takesWritesStep?: string): string[] {
  const out = [`    ${v.reads ? '·' : '+'} ${v.says}`];
  if (verbose) out.push(`        $ ${v.exact}`);
  if (v.alongside) out.push('        ∥ runs alongside the rest of this step, which ends when it finished');
  for (const u of v.undo) {
    const note =
      v.undoKind === 'destroys-data'
        ? `  [destroys data: never run once ${takesWritesStep ?? 'the containers take writes'} began; kept instead]`
        : '';
    out.push(`        ↩ ${u.says}${note}`);
    if (verbose) out.push(`            $ ${u.exact}`);
  }
  if (v.undoneBy) out.push(`        ↩ undone by ${v.undoneBy}`);
  return out;
}

export interface PlanNotes {
  /** Lines the runbook adds to the summary (the write freeze, what is never undone and why). */
  lines?: string[];
}

/** The end of a dry run, in the manner of a Terraform plan: what changes, what can be undone, what is destructive, what moves. */
export function planSummary(plan: PlannedStep<unknown, unknown>[], notes: PlanNotes = {}): string[] {
  const actions = plan.flatMap((p) => p.actions.map((a) => ({ step: p.step, a })));
  const changes = actions.filter(({ a }) => !a.cmd.reads);
  const checks = actions.length - changes.length;
  const undoable = changes.filter(({ a }) => a.undo?.length || a.undoneBy);
  const noUndo = [...new Set(changes.filter(({ a }) => !a.undo?.length && !a.undoneBy).map(({ step }) => step.id))];
  const destructiveSteps = plan.filter((p) => p.step.destructive).map((p) => p.step.id);
  const destroys = [
    ...new Set(
      actions
        .filter(({ a }) => a.undoKind === 'destroys-data')
        .flatMap(({ a }) => (a.creates ?? []).map((r) => `${r.type} ${r.name}`)),
    ),
  ];
  const keptAfter = plan.find((p) => p.step.takesWrites)?.step.id;
  const bytes = actions.reduce(
    (n, { a }) => n + (a.cmd.kind === 'download' && a.cmd.expectedBytes ? a.cmd.expectedBytes : 0),
    0,
  );
  const archives = actions
    .filter(({ a }) => a.cmd.kind === 'download' && a.cmd.expectedBytes !== undefined)
    .map(({ a }) => (a.cmd.kind === 'download' ? `${a.cmd.label} ${formatBytes(a.cmd.expectedBytes ?? 0)}` : ''));
  const line = '─'.repeat(60);
  return [
    line,
    `Plan: ${plan.length} steps, ${changes.length} changes (${undoable.length} undone by a rollback, ${changes.length - undoable.length} never undone), ${checks} checks that change nothing.`,
    ...(noUndo.length ? [`  never undone: ${noUndo.join(', ')}`] : []),
    destructiveSteps.length
      ? `Destructive steps (typed confirmation in --interactive, --yes otherwise): ${destructiveSteps.join(', ')}.`
      : 'Destructive steps: none.',
    ...(destroys.length
      ? [
          `Removing these may destroy data, so a rollback ${keptAfter ? `from ${keptAfter} on keeps them` : 'keeps them once they may hold the only copy'}: ${destroys.join(', ')}.`,
        ]
      : []),
    ...(bytes ? [`Data moved: ${formatBytes(bytes)} on disk (${archives.join(', ')}).`] : []),
    ...(notes.lines ?? []),
    'Exact commands: --verbose; the plan as data: --out plan.json (then --plan plan.json runs exactly it).',
  ];
}
