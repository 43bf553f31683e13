/** A small plan and a recording setup for the runner's tests (runner.test.ts, runner-resume.test.ts). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { remote, type Command } from './command.ts';
import { Journal } from './journal.ts';
import type { RunEvent } from './runner.ts';
import type { PlannedStep } from './step.ts';

export const argvOf = (c: Command) => (c.kind === 'remote' ? c.argv.join(' ') : c.kind);

export function demoPlan(): PlannedStep<unknown, unknown>[] {
  const mk = (id: string, n: number): PlannedStep<unknown, unknown> => ({
    step: { id, title: id, plan: () => [] },
    actions: Array.from({ length: n }, (_, i) => ({
      cmd: remote(['do', id, String(i)]),
      undo: [remote(['undo', id, String(i)])],
    })),
  });
  return [mk('a', 2), mk('b', 1), mk('c', 2)];
}
export const newJournal = () => new Journal(join(mkdtempSync(join(tmpdir(), 'j-')), 'journal.jsonl'));
export const hooks = (events: RunEvent[] = []) => ({ event: (e: RunEvent) => events.push(e) });
