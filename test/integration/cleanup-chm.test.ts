import { execFileSync, spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { NO_ENDPOINTS, chmSpec, merge } from '../support/chm-spec.ts';
import { hostFingerprint } from '../support/fingerprint.ts';
import { labSsh } from '../support/lab.ts';
import { labReset } from '../support/reset.ts';
import { runIdOf, runbook } from '../support/run.ts';

const CONF = '/etc/supervisor/conf.d/chatbot-backend.conf';
const sh = (script: string) => labSsh(script).trim();
const answers = (port: number) =>
  spawnSync('curl', ['-s', '-m', '3', '-o', '/dev/null', `http://127.0.0.1:${port}/`]).status === 0;
const eventually = (probe: () => boolean) => {
  for (let i = 0; i < 80 && !probe(); i++) execFileSync('sleep', ['0.25']);
  return probe();
};

describe('cleanup-chm: seed phase 4, archived not deleted, and undoable', () => {
  beforeAll(() => {
    expect(labReset().code).toBe(0);
  });

  it('is refused before a migration and while bare metal still answers (with or without healthPath); two cleanups a day each archive into their own dir, and rolling back the first leaves what the second archived', () => {
    const early = runbook('cleanup-chm', ['--yes']);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/cleanup is for after a successful migration.*run runbooks\/migrate-chm\.ts first/);

    const mig = runbook('migrate-chm', ['--yes']);
    expect(mig.code, mig.stderr).toBe(0);
    const migrated = hostFingerprint();

    // Someone started the old backend by hand: cleanup must see it, without a health path too
    // (it used to ask http://127.0.0.1:8000undefined and never see it).
    const venvOnly = chmSpec(
      merge(NO_ENDPOINTS, { cleanup: { paths: ['/home/ubuntu/chm-chatbot/venv'] } }),
      'clean-venv.yaml',
    );
    sh('sudo supervisorctl start chatbot-backend >/dev/null');
    expect(eventually(() => answers(8000))).toBe(true);
    for (const args of [['--config', venvOnly], []]) {
      const refused = runbook('cleanup-chm', ['--yes', ...args]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/the bare-metal backend still answers on :8000/);
    }
    sh('sudo supervisorctl stop chatbot-backend >/dev/null');
    expect(sh('test -d /home/ubuntu/chm-chatbot/venv && echo kept')).toBe('kept');

    const noConfirm = runbook('cleanup-chm', []);
    expect(noConfirm.code).toBe(2);
    expect(noConfirm.stderr).toMatch(/cleanup\.archive are destructive: pass --yes/);
    expect(hostFingerprint()).toEqual(migrated);

    // Two cleanups on one day: the venv first, the rest later.
    const a = runbook('cleanup-chm', ['--yes', '--config', venvOnly]);
    expect(a.code, a.stderr).toBe(0);
    const b = runbook('cleanup-chm', ['--yes']);
    expect(b.code, b.stderr).toBe(0);
    const [archA, archB] = [runIdOf(a), runIdOf(b)].map((id) => `/home/ubuntu/cutover-archive-${id}`);
    expect(archA).not.toBe(archB);
    expect(sh('test -e /home/ubuntu/chm-chatbot/venv && echo present || echo gone')).toBe('gone');
    expect(sh(`cat ${archA}/home/ubuntu/chm-chatbot/venv/pyvenv.cfg`)).toMatch(/version = 3\.11/);
    expect(sh(`sudo cat ${archB}${CONF}`)).toMatch(/\[program:chatbot-backend\]/);
    expect(sh('sudo supervisorctl status chatbot-backend 2>&1 || true')).toMatch(/no such process/i);
    const confSha = sh(`sudo sha256sum ${archB}${CONF} | cut -d' ' -f1`);

    const again = runbook('cleanup-chm', ['--yes']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already archived\nnothing to do/);

    // The migration's rollback waits for both cleanups (bare metal's venv and program file are in their archives):
    // refused before anything changed, naming each cleanup's own rollback, newest first; the public still served.
    const cleaned = hostFingerprint();
    const tooSoon = runbook('migrate-chm', ['--rollback', runIdOf(mig)]);
    expect(tooSoon.code).not.toBe(0);
    expect(tooSoon.stderr).toContain(
      `runs ${runIdOf(b)} of cleanup-chm (finished), ${runIdOf(a)} of cleanup-chm (finished) build on run ${runIdOf(mig)}'s result`,
    );
    expect(tooSoon.stderr).toContain(
      `(npx tsx runbooks/cleanup-chm.ts --rollback ${runIdOf(b)}, then npx tsx runbooks/cleanup-chm.ts --rollback ${runIdOf(a)} --config ${venvOnly})`,
    );
    expect(hostFingerprint()).toEqual(cleaned);
    expect(sh('sudo ls /var/lib/cutover/lock 2>/dev/null || echo free')).toBe('free');

    const rbA = runbook('cleanup-chm', ['--rollback', runIdOf(a), '--config', venvOnly]);
    expect(rbA.code, rbA.stderr).toBe(0);
    expect(sh('test -f /home/ubuntu/chm-chatbot/venv/pyvenv.cfg && echo back')).toBe('back');
    // The second cleanup's archive, now the only copy of the supervisor file, is whole.
    expect(sh(`sudo sha256sum ${archB}${CONF} | cut -d' ' -f1`)).toBe(confSha);
    expect(sh(`sudo test -e ${CONF} && echo present || echo absent`)).toBe('absent');

    const rbB = runbook('cleanup-chm', ['--rollback', runIdOf(b)]);
    expect(rbB.code, rbB.stderr).toBe(0);
    expect(hostFingerprint()).toEqual(migrated);

    expect(runbook('migrate-chm', ['--rollback', runIdOf(mig)]).code).toBe(0);
    expect(labReset().code).toBe(0);
  });
});
