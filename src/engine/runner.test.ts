import { describe, expect, it } from 'vitest';
import { CommandFailed, DryRunExecutor, RecordingExecutor, type Executor } from '../exec/executor.ts';
import { remote, type Command } from './command.ts';
import { Journal, replay } from './journal.ts';
import { ConnectionLost } from '../util/errors.ts';
import { executePlan, undoFromJournal, type RunEvent } from './runner.ts';
import type { PlannedStep } from './step.ts';

import { argvOf, demoPlan, hooks, newJournal } from './runner-testing.ts';

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
    expect(out.error).toBe('disk full (exit 3)');
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

  it('a dry run prints exactly the commands a real run executes, and journals nothing', async () => {
    const dry = new DryRunExecutor();
    const events: RunEvent[] = [];
    await executePlan({ plan: demoPlan(), exec: dry, hooks: hooks(events) });
    const real = new RecordingExecutor();
    await executePlan({ plan: demoPlan(), exec: real, journal: newJournal(), hooks: hooks() });
    expect(dry.printed).toEqual(real.ran);
    expect(
      events.filter((e) => e.type === 'action').every((e) => e.type === 'action' && e.dryRun && e.undo.length === 1),
    ).toBe(true);
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

/** A store of data (volume v), a step that opens it to writes, and a step after it whose undo fails or not. */
function dataPlan(): PlannedStep<unknown, unknown>[] {
  return [
    {
      step: { id: 'make', title: 'make', plan: () => [] },
      actions: [
        {
          cmd: remote(['create', 'v']),
          undo: [remote(['remove', 'v'])],
          undoKind: 'destroys-data',
          keep: [remote(['record-kept', 'v'])],
          creates: [{ type: 'volume', name: 'v' }],
        },
      ],
    },
    {
      step: { id: 'build', title: 'build', plan: () => [] },
      actions: [{ cmd: remote(['build', 'img']), undo: [remote(['rmi', 'img'])], undoKind: 'removes-ours' }],
    },
    {
      step: { id: 'open', title: 'open', takesWrites: true, plan: () => [] },
      actions: [{ cmd: remote(['open']), undo: [remote(['copy-back'])] }],
    },
    {
      step: { id: 'after', title: 'after', plan: () => [] },
      actions: [{ cmd: remote(['after']), undo: [remote(['undo-after'])] }],
    },
  ];
}

/** A RecordingExecutor whose connection drops on the named commands (once each), and reconnects or not. */
class FlakyExecutor extends RecordingExecutor {
  reconnects = 0;
  constructor(
    private dropOn: string[],
    private canReconnect = true,
    respond?: (c: Command) => Partial<{ code: number; stderr: string }> | undefined,
  ) {
    super(respond);
  }
  override async run(cmd: Command) {
    const i = this.dropOn.indexOf(argvOf(cmd));
    if (i >= 0) {
      this.dropOn.splice(i, 1);
      this.ran.push(cmd);
      throw new ConnectionLost(`lost the connection while running: ${argvOf(cmd)}`);
    }
    return super.run(cmd);
  }
  async reconnect() {
    this.reconnects++;
    return this.canReconnect;
  }
}

describe('the operator quitting (--interactive)', () => {
  it('roll back and quit is a decision, not a failure: no step-failed event, outcome.quit says which', async () => {
    const exec = new RecordingExecutor();
    const events: RunEvent[] = [];
    let n = 0;
    const out = await executePlan({
      plan: demoPlan(),
      exec,
      journal: newJournal(),
      hooks: { event: (e) => events.push(e), beforeStep: async () => (n++ === 1 ? 'rollback' : 'run') },
    });
    expect(out).toMatchObject({ ok: false, quit: 'rollback', rolledBack: true, failedStep: 'b' });
    expect(events.some((e) => e.type === 'step-failed')).toBe(false);
    expect(exec.ran.map(argvOf)).toEqual(['do a 0', 'do a 1', 'undo a 1', 'undo a 0']);
  });
});

describe('rollback safety rules (every runbook)', () => {
  it('a destroys-data undo never runs once a step that takes writes has begun: the data is kept and reported', async () => {
    const exec = new RecordingExecutor();
    const j = newJournal();
    const out = await executePlan({ plan: dataPlan(), exec, journal: j, failAt: 'after', hooks: hooks() });
    expect(out.rolledBack).toBe(true);
    expect(exec.ran.map(argvOf).slice(4)).toEqual(['undo-after', 'copy-back', 'rmi img', 'record-kept v']);
    expect(exec.ran.map(argvOf)).not.toContain('remove v');
    expect(out.kept).toEqual([{ type: 'volume', name: 'v' }]);
    expect(replay(Journal.read(j.path)).kept).toEqual([{ type: 'volume', name: 'v' }]);
  });

  it("before that step the same undo runs: what the run made holds no one else's data yet", async () => {
    const exec = new RecordingExecutor();
    const out = await executePlan({ plan: dataPlan(), exec, journal: newJournal(), failAt: 'build', hooks: hooks() });
    expect(out.rolledBack).toBe(true);
    expect(exec.ran.map(argvOf).slice(2)).toEqual(['rmi img', 'remove v']);
    expect(out.kept).toEqual([]);
  });

  it('the first undo that fails stops the rollback there; running it again resumes from that undo', async () => {
    const plan = dataPlan()
      .slice(0, 2)
      .concat([
        {
          step: { id: 'after', title: 'after', plan: () => [] },
          actions: [{ cmd: remote(['after']), undo: [remote(['undo-after'])] }],
        },
      ]);
    const exec = new RecordingExecutor((c) =>
      argvOf(c) === 'undo-after' ? { code: 1, stderr: 'sync-back failed half-way' } : undefined,
    );
    const j = newJournal();
    const out = await executePlan({ plan, exec, journal: j, failAt: 'after', hooks: hooks() });
    expect(out.rolledBack).toBe(false);
    expect(out.undoFailures).toEqual([expect.stringMatching(/^after: .*sync-back failed half-way/)]);
    // nothing older ran: the volume (maybe the only copy of what undo-after was bringing back) is untouched
    expect(exec.ran.map(argvOf).slice(3)).toEqual(['undo-after']);
    const again = new RecordingExecutor();
    const u = await undoFromJournal(j, again, hooks());
    expect(u.undoFailures).toEqual([]);
    expect(again.ran.map(argvOf)).toEqual(['undo-after', 'rmi img', 'remove v']);
    expect(replay(Journal.read(j.path)).rolledBack).toBe(true);
  });

  it('a connection lost mid-step: reconnect, settle what the lost session left running, then roll back', async () => {
    const exec = new FlakyExecutor(['build img']);
    const out = await executePlan({
      plan: dataPlan(),
      exec,
      journal: newJournal(),
      settle: [remote(['settle', 'run'])],
      hooks: hooks(),
    });
    expect(out.rolledBack).toBe(true);
    expect(exec.reconnects).toBe(1);
    expect(exec.ran.map(argvOf)).toEqual(['create v', 'build img', 'settle run', 'rmi img', 'remove v']);
  });

  it('a host that stays unreachable: a resumable stop that says so, nothing recorded as undone', async () => {
    const exec = new FlakyExecutor(['build img'], false);
    const j = newJournal();
    const out = await executePlan({
      plan: dataPlan(),
      exec,
      journal: j,
      settle: [remote(['settle', 'run'])],
      hooks: hooks(),
    });
    expect(out).toMatchObject({ ok: false, unreachable: true, stoppedResumable: true, rolledBack: false });
    expect(
      replay(Journal.read(j.path))
        .steps.flatMap((s) => s.actions)
        .filter((a) => a.undone),
    ).toEqual([]);
  });

  it('a connection lost during an undo: reconnect, settle, retry it once; an unreachable host stops the rollback with no false record', async () => {
    const ok = new FlakyExecutor(['rmi img']);
    const out = await executePlan({
      plan: dataPlan().slice(0, 2),
      exec: ok,
      journal: newJournal(),
      failAt: 'build',
      settle: [remote(['settle'])],
      hooks: hooks(),
    });
    expect(out.rolledBack).toBe(true);
    expect(ok.ran.map(argvOf).slice(2)).toEqual(['rmi img', 'settle', 'rmi img', 'remove v']);

    const down = new FlakyExecutor(['rmi img'], false);
    const j = newJournal();
    const out2 = await executePlan({
      plan: dataPlan().slice(0, 2),
      exec: down,
      journal: j,
      failAt: 'build',
      hooks: hooks(),
    });
    expect(out2).toMatchObject({ rolledBack: false, unreachable: true });
    expect(down.ran.map(argvOf)).not.toContain('remove v');
    const st = replay(Journal.read(j.path));
    expect(st.steps.flatMap((s) => s.actions).map((a) => a.undone)).toEqual([false, false]);
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

  describe('actions alongside the rest of their step', () => {
    /** Each command takes `ms` from its last argv word; a log of when each started and ended. */
    class TimedExecutor implements Executor {
      readonly dryRun = false;
      log: string[] = [];
      constructor(private readonly failing?: string) {}
      async run(cmd: Command) {
        const name = argvOf(cmd);
        this.log.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, Number(name.split(' ').pop())));
        this.log.push(`end ${name}`);
        if (name === this.failing) throw new CommandFailed(cmd, { code: 1, stdout: '', stderr: 'broken' });
        return { code: 0, stdout: '', stderr: '' };
      }
    }
    const plan = (): PlannedStep<unknown, unknown>[] => [
      {
        step: { id: 's', title: 's', plan: () => [] },
        actions: [
          { cmd: remote(['snap', 'one', '100']), alongside: true },
          { cmd: remote(['snap', 'two', '50']), alongside: true },
          { cmd: remote(['stream', 'a', '30']) },
          { cmd: remote(['stream', 'b', '30']) },
        ],
      },
      { step: { id: 't', title: 't', plan: () => [] }, actions: [{ cmd: remote(['after', '1']) }] },
    ];

    it('run one after another in the background of the others; the step ends when they did; the journal reads as the plan', async () => {
      const exec = new TimedExecutor();
      const j = newJournal();
      const events: RunEvent[] = [];
      const out = await executePlan({ plan: plan(), exec, journal: j, hooks: hooks(events) });
      expect(out.ok).toBe(true);
      expect(exec.log).toEqual([
        'start snap one 100',
        'start stream a 30',
        'end stream a 30',
        'start stream b 30',
        'end stream b 30',
        'end snap one 100',
        'start snap two 50',
        'end snap two 50',
        'start after 1',
        'end after 1',
      ]);
      const entries = Journal.read(j.path);
      expect(
        entries.filter((e) => e.type === 'action' && e.step === 's').map((e) => (e.type === 'action' ? e.index : -1)),
      ).toEqual([0, 1, 2, 3]);
      expect(
        entries
          .filter((e) => e.type === 'action-done' && e.step === 's')
          .map((e) => (e.type === 'action-done' ? e.index : -1)),
      ).toEqual([2, 3, 0, 1]);
      expect(
        events
          .filter((e) => e.type === 'action')
          .map((e) => (e.type === 'action' ? [e.says, Boolean(e.alongside)] : [])),
      ).toEqual([
        [expect.stringContaining('snap one'), true],
        [expect.stringContaining('snap two'), true],
        [expect.stringContaining('stream a'), false],
        [expect.stringContaining('stream b'), false],
        [expect.stringContaining('after'), false],
      ]);
    });

    it('a background failure fails the step once the foreground action running settled; nothing after it starts', async () => {
      const exec = new TimedExecutor('snap one 100');
      const out = await executePlan({ plan: plan(), exec, journal: newJournal(), hooks: hooks(), noRollback: true });
      expect(out.ok).toBe(false);
      expect(out.failedStep).toBe('s');
      expect(out.error).toMatch(/broken/);
      expect(exec.log).toEqual([
        'start snap one 100',
        'start stream a 30',
        'end stream a 30',
        'start stream b 30',
        'end stream b 30',
        'end snap one 100',
      ]);
    });

    it('a foreground failure waits for the background action running, starts none queued behind it, then fails the step', async () => {
      const exec = new TimedExecutor('stream a 30');
      const out = await executePlan({ plan: plan(), exec, journal: newJournal(), hooks: hooks(), noRollback: true });
      expect(out.ok).toBe(false);
      expect(out.error).toMatch(/broken/);
      expect(exec.log).toEqual(['start snap one 100', 'start stream a 30', 'end stream a 30', 'end snap one 100']);
    });
  });
});
