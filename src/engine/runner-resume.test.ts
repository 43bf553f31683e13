import { describe, expect, it } from 'vitest';
import { RecordingExecutor } from '../exec/executor.ts';
import { Journal, replay } from './journal.ts';
import { executePlan, undoFromJournal } from './runner.ts';
import { argvOf, demoPlan, hooks, newJournal } from './runner-testing.ts';

describe('--resume of a step the run stopped in', () => {
  it('resume skips done steps and redoes a partial step after undoing it', async () => {
    const j = newJournal();
    const first = new RecordingExecutor((c) => (argvOf(c) === 'do c 1' ? { code: 1 } : undefined));
    await executePlan({ plan: demoPlan(), exec: first, journal: j, noRollback: true, hooks: hooks() });
    const second = new RecordingExecutor();
    const out = await executePlan({
      plan: demoPlan(),
      exec: second,
      journal: j,
      resume: replay(Journal.read(j.path)),
      hooks: hooks(),
    });
    expect(out.ok).toBe(true);
    expect(second.ran.map(argvOf)).toEqual(['undo c 1', 'undo c 0', 'do c 0', 'do c 1']);
  });

  it('a step marked redoOnResume is run again from its start on resume, nothing undone; a later rollback undoes each action once', async () => {
    const plan = () => {
      const p = demoPlan();
      p[2] = { ...p[2], step: { ...p[2].step, redoOnResume: true } };
      return p;
    };
    const j = newJournal();
    const first = new RecordingExecutor((c) => (argvOf(c) === 'do c 1' ? { code: 1 } : undefined));
    await executePlan({ plan: plan(), exec: first, journal: j, noRollback: true, hooks: hooks() });
    const second = new RecordingExecutor();
    const out = await executePlan({
      plan: plan(),
      exec: second,
      journal: j,
      resume: replay(Journal.read(j.path)),
      hooks: hooks(),
    });
    expect(out.ok).toBe(true);
    expect(second.ran.map(argvOf)).toEqual(['do c 0', 'do c 1']); // the gate stays open: nothing taken back
    const st = replay(Journal.read(j.path));
    expect(st.steps.find((x) => x.id === 'c')?.actions.map((a) => [a.index, a.done])).toEqual([
      [0, true],
      [1, true],
    ]);
    const back = new RecordingExecutor();
    await undoFromJournal(j, back, hooks());
    expect(back.ran.map(argvOf)).toEqual(['undo c 1', 'undo c 0', 'undo b 0', 'undo a 1', 'undo a 0']);
  });
});
