import { describe, expect, it } from 'vitest';
import type { Stamped } from '../engine/journal.ts';
import { buildsOnMessage, runState, runsBuildingOn } from './host-runs.ts';

const t = '2026-12-03T01:00:00Z';
const run = (mode: 'run' | 'resume' | 'rollback'): Stamped => ({
  t,
  type: 'run',
  runId: 'r',
  runbook: 'pg',
  operator: 'alice',
  config: '/c',
  startedAt: t,
  mode,
});

describe("a host run's state, from its journal", () => {
  it('finished, failed, rolled back, stopped: judged by its last attempt', () => {
    expect(runState('r', [run('run'), { t, type: 'step-done', step: 'a', ms: 1 }, { t, type: 'run-done' }]).state).toBe(
      'finished',
    );
    expect(runState('r', [run('run'), { t, type: 'run-failed', step: 'b', error: 'x' }]).state).toBe('failed at b');
    expect(
      runState('r', [
        run('run'),
        { t, type: 'run-failed', step: 'b', error: 'x' },
        run('rollback'),
        { t, type: 'run-rolled-back' },
      ]).state,
    ).toBe('rolled back');
    expect(
      runState('r', [
        run('run'),
        { t, type: 'run-failed', step: 'b', error: 'x' },
        run('resume'),
        { t, type: 'step-done', step: 'c', ms: 1 },
      ]).state,
    ).toBe('stopped or still running after c');
    expect(runState('r', [run('rollback'), { t, type: 'undo-failed', step: 'd', index: 0, error: 'x' }]).state).toBe(
      'rollback stopped at d',
    );
    expect(runState('r', [run('run')])).toMatchObject({ runbook: 'pg', operator: 'alice', startedAt: t });
  });

  it("a rollback waits for the runs that build on its result: those not rolled back that did a step, with each one's own command", async () => {
    const entry = (runId: string, runbook: string, extra: object) => ({ ...run('run'), runId, runbook, ...extra });
    const runs: Record<string, object[]> = {
      m1: [entry('m1', 'migrate-chm', {}), { t, type: 'step-start', step: 'a' }, { t, type: 'run-done' }],
      c1: [
        entry('c1', 'cleanup-chm', { follows: 'm1', rollback: 'npx tsx runbooks/cleanup-chm.ts --rollback c1' }),
        { t, type: 'step-start', step: 'cleanup.archive' },
        { t, type: 'step-done', step: 'cleanup.archive', ms: 1 },
        { t, type: 'run-done' },
      ],
      c2: [
        entry('c2', 'cleanup-chm', { follows: 'm1' }),
        { t, type: 'step-start', step: 'cleanup.archive' },
        run('rollback'),
        { t, type: 'run-rolled-back' },
      ],
      c3: [
        entry('c3', 'cleanup', { follows: 'm1' }),
        { t, type: 'step-start', step: 'x' },
        { t, type: 'run-failed', step: 'x', error: 'cut' },
      ],
      c4: [entry('c4', 'cleanup', { follows: 'm1' })], // stopped before its first step: nothing built on m1
      c5: [entry('c5', 'cleanup', { follows: 'm0' }), { t, type: 'step-start', step: 'x' }],
    };
    const listing = Object.entries(runs)
      .map(([id, es]) => `== ${id}\n${es.map((e) => JSON.stringify(e)).join('\n')}\n`)
      .join('');
    const probe = async () => ({ code: 0, stdout: listing, stderr: '' });
    const after = await runsBuildingOn(probe, 'm1');
    expect(after.map((r) => [r.runId, r.state, r.rollback])).toEqual([
      ['c1', 'finished', 'npx tsx runbooks/cleanup-chm.ts --rollback c1'],
      ['c3', 'failed at x', 'npx tsx runbooks/cleanup.ts --rollback c3'],
    ]);
    expect(buildsOnMessage('m1', after)).toBe(
      "runs c3 of cleanup (failed at x), c1 of cleanup-chm (finished) build on run m1's result and are not rolled back: roll them back first, newest first (npx tsx runbooks/cleanup.ts --rollback c3, then npx tsx runbooks/cleanup-chm.ts --rollback c1), then this rollback again; nothing was changed",
    );
    expect(await runsBuildingOn(probe, 'm2')).toEqual([]);
  });
});
