import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DryRunExecutor, RecordingExecutor } from '../exec/executor.ts';
import { remote, type Command } from './command.ts';
import { Journal, replay } from './journal.ts';
import { executePlan, type RunEvent } from './runner.ts';
import type { PlannedStep } from './step.ts';

const argvOf = (c: Command) => (c.kind === 'remote' ? c.argv.join(' ') : c.kind);

function demoPlan(): PlannedStep<unknown, unknown>[] {
  const mk = (id: string, n: number): PlannedStep<unknown, unknown> => ({
    step: { id, title: id, plan: () => [] },
    actions: Array.from({ length: n }, (_, i) => ({ cmd: remote(['do', id, String(i)]), undo: [remote(['undo', id, String(i)])] })),
  });
  return [mk('a', 2), mk('b', 1), mk('c', 2)];
}
const newJournal = () => new Journal(join(mkdtempSync(join(tmpdir(), 'j-')), 'journal.jsonl'));
const hooks = (events: RunEvent[] = []) => ({ event: (e: RunEvent) => events.push(e) });

describe('executePlan (saga)', () => {
  it('runs every action in order and journals them', async () => {
    const exec = new RecordingExecutor();
    const j = newJournal();
    const out = await executePlan({ plan: demoPlan(), exec, journal: j, hooks: hooks() });
    expect(out.ok).toBe(true);
    expect(exec.ran.map(argvOf)).toEqual(['do a 0', 'do a 1', 'do b 0', 'do c 0', 'do c 1']);
    const st = replay(Journal.read(j.path));
    expect(st.finished).toBe(true);
    expect(st.steps.map((s) => s.status)).toEqual(['done', 'done', 'done']);
  });

  it('on failure undoes what was done, newest first, including the failing step', async () => {
    const exec = new RecordingExecutor((c) => (argvOf(c) === 'do c 1' ? { code: 3, stderr: 'disk full' } : undefined));
    const j = newJournal();
    const out = await executePlan({ plan: demoPlan(), exec, journal: j, hooks: hooks() });
    expect(out.ok).toBe(false);
    expect(out.failedStep).toBe('c');
    expect(out.error).toMatch(/exited 3: disk full/);
    expect(out.rolledBack).toBe(true);
    // c1 began (its undo was journaled before it ran), so it is undone too: undo is idempotent.
    expect(exec.ran.map(argvOf).slice(5)).toEqual(['undo c 1', 'undo c 0', 'undo b 0', 'undo a 1', 'undo a 0']);
    expect(replay(Journal.read(j.path)).rolledBack).toBe(true);
  });

  it('--fail-at fails after the named step and rolls everything back', async () => {
    const exec = new RecordingExecutor();
    const out = await executePlan({ plan: demoPlan(), exec, journal: newJournal(), failAt: 'b', hooks: hooks() });
    expect(out.ok).toBe(false);
    expect(out.error).toMatch(/--fail-at b/);
    expect(exec.ran.map(argvOf)).toEqual(['do a 0', 'do a 1', 'do b 0', 'undo b 0', 'undo a 1', 'undo a 0']);
  });

  it('--no-rollback leaves the state and says it can be resumed', async () => {
    const exec = new RecordingExecutor((c) => (argvOf(c) === 'do b 0' ? { code: 1 } : undefined));
    const out = await executePlan({ plan: demoPlan(), exec, journal: newJournal(), noRollback: true, hooks: hooks() });
    expect(out.stoppedResumable).toBe(true);
    expect(exec.ran.map(argvOf)).toEqual(['do a 0', 'do a 1', 'do b 0']);
  });

  it('resume skips done steps and redoes a partial step after undoing it', async () => {
    const j = newJournal();
    const first = new RecordingExecutor((c) => (argvOf(c) === 'do c 1' ? { code: 1 } : undefined));
    await executePlan({ plan: demoPlan(), exec: first, journal: j, noRollback: true, hooks: hooks() });
    const second = new RecordingExecutor();
    const out = await executePlan({ plan: demoPlan(), exec: second, journal: j, resume: replay(Journal.read(j.path)), hooks: hooks() });
    expect(out.ok).toBe(true);
    expect(second.ran.map(argvOf)).toEqual(['undo c 1', 'undo c 0', 'do c 0', 'do c 1']);
  });

  it('a dry run prints exactly the commands a real run executes, and journals nothing', async () => {
    const dry = new DryRunExecutor();
    const events: RunEvent[] = [];
    await executePlan({ plan: demoPlan(), exec: dry, hooks: hooks(events) });
    const real = new RecordingExecutor();
    await executePlan({ plan: demoPlan(), exec: real, journal: newJournal(), hooks: hooks() });
    expect(dry.printed).toEqual(real.ran);
    expect(events.filter((e) => e.type === 'action').every((e) => e.type === 'action' && e.dryRun && e.undo.length === 1)).toBe(true);
  });

  it('stops between actions when the operator asks, then rolls back', async () => {
    const exec = new RecordingExecutor();
    let n = 0;
    const out = await executePlan({
      plan: demoPlan(),
      exec,
      journal: newJournal(),
      hooks: { event: () => {}, stopRequested: () => ++n >= 2 },
    });
    expect(out.error).toMatch(/interrupted/);
    expect(exec.ran.map(argvOf)).toEqual(['do a 0', 'do a 1', 'undo a 1', 'undo a 0']);
  });
});

describe('journal', () => {
  it('ignores a torn last line (kill -9 mid-write)', async () => {
    const j = newJournal();
    j.append({ type: 'step-start', step: 'x' });
    const { appendFileSync } = await import('node:fs');
    appendFileSync(j.path, '{"type":"action","st');
    const st = replay(Journal.read(j.path));
    expect(st.steps).toEqual([{ id: 'x', status: 'running', actions: [] }]);
  });
});
