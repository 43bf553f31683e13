import { beforeAll, describe, expect, it } from 'vitest';
import { hostFingerprint } from '../support/fingerprint.ts';
import { labScript, labSsh } from '../support/lab.ts';
import { runIdOf, runbook } from '../support/run.ts';

describe('cleanup-chm: seed phase 4, archived not deleted, and undoable', () => {
  beforeAll(() => {
    expect(labScript('reset').code).toBe(0);
  });

  it('is refused before a migration, archives after one, and --rollback puts everything back', () => {
    const early = runbook('cleanup-chm', ['--yes']);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/cleanup is for after a successful migration.*run runbooks\/migrate-chm\.ts first/);

    const mig = runbook('migrate-chm', ['--yes']);
    expect(mig.code, mig.stderr).toBe(0);
    const migrated = hostFingerprint();

    const noConfirm = runbook('cleanup-chm', []);
    expect(noConfirm.code).toBe(2);
    expect(noConfirm.stderr).toMatch(/cleanup\.archive are destructive: pass --yes/);
    expect(hostFingerprint()).toEqual(migrated);

    const clean = runbook('cleanup-chm', ['--yes']);
    expect(clean.code, clean.stderr).toBe(0);
    const runId = runIdOf(clean);
    const archive = `/home/ubuntu/cutover-archive-${runId}`;
    expect(labSsh('test -e /home/ubuntu/chm-chatbot/venv && echo present || echo gone').trim()).toBe('gone');
    expect(labSsh(`cat ${archive}/home/ubuntu/chm-chatbot/venv/pyvenv.cfg`)).toMatch(/version = 3\.11/);
    expect(labSsh(`sudo cat ${archive}/etc/supervisor/conf.d/chatbot-backend.conf`)).toMatch(/\[program:chatbot-backend\]/);
    expect(labSsh('sudo supervisorctl status chatbot-backend 2>&1 || true')).toMatch(/no such process/i);

    const again = runbook('cleanup-chm', ['--yes']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already archived\nnothing to do/);

    const rb = runbook('cleanup-chm', ['--rollback', runId]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(hostFingerprint()).toEqual(migrated);

    expect(runbook('migrate-chm', ['--rollback', runIdOf(mig)]).code).toBe(0);
    expect(labScript('reset').code).toBe(0);
  });
});
