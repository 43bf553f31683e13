import type { input, select } from '@inquirer/prompts';
import { actionLines, actionView } from './plan-view.ts';
import type { StepDecision } from '../engine/runner.ts';
import type { PlannedStep } from '../engine/step.ts';

export type Ask = {
  select: typeof select;
  input: typeof input;
};

/**
 * --interactive: before each step, run / skip / show the commands / roll back and quit / quit
 * leaving a resumable run. Destructive steps need the step id typed back.
 */
export async function askBeforeStep(
  p: PlannedStep<unknown, unknown>,
  opts: { yes: boolean; print: (s: string) => void },
  ask?: Ask,
): Promise<StepDecision> {
  ask ??= (await import('@inquirer/prompts')) as Ask;
  for (;;) {
    const choice = await ask.select({
      message: `next: ${p.step.id} — ${p.step.title}${p.step.destructive ? ' (DESTRUCTIVE)' : ''}`,
      choices: [
        { name: 'run this step', value: 'run' },
        { name: 'skip it', value: 'skip' },
        { name: 'show its commands', value: 'show' },
        { name: 'roll back what this run did, and quit', value: 'rollback' },
        { name: 'quit, leaving a resumable run', value: 'quit' },
      ],
    });
    if (choice === 'show') {
      // the same words as the plan, each with its exact command
      for (const a of p.actions) for (const l of actionLines(actionView(a), true)) opts.print(l);
      if (p.actions.length === 0) opts.print('    (read-only: no commands)');
      continue;
    }
    if (choice === 'run' && p.step.destructive && !opts.yes && !(await confirmed(p.step.id, opts.print, ask))) continue;
    return choice as StepDecision;
  }
}

/** The step id typed back; a wrong answer asks for the id again, an empty one goes back to the menu. */
async function confirmed(id: string, print: (s: string) => void, ask: Ask): Promise<boolean> {
  for (;;) {
    const typed = (
      await ask.input({ message: `type "${id}" to confirm this destructive step (empty: back to the menu)` })
    ).trim();
    if (typed === id) return true;
    if (!typed) return false;
    print(`    "${typed}" is not "${id}"`);
  }
}
