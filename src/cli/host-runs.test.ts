import { describe, expect, it } from 'vitest';
import type { Stamped } from '../engine/journal.ts';
import { runState } from './host-runs.ts';

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
});
