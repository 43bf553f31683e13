import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planToJson } from '../cli/main.ts';
import { describe as show } from '../engine/command.ts';
import { loadConfig } from '../engine/config.ts';
import { chmSchema } from './config.ts';
import { chmSteps, secretsEnv } from './steps.ts';

const config = () => ({ ...loadConfig(resolve(import.meta.dirname, '../../runbooks/chm.lab.yaml'), chmSchema) });
const facts = { compose: 'v2', dataBytes: { chroma: 1, pdfs: 1, transcripts: 1 }, hostFree: 1, backendHealthy: true, frontendHealthy: true, mediahub: [], port80: '', volumes: {}, images: [] } as never;

describe('CHM plan', () => {
  it('carries secrets as Secret: the plan, its JSON and every printed command show [REDACTED]', () => {
    process.env.CUTOVER_TEST_KEY = 'sk-live-DO-NOT-PRINT-4242';
    const c = { ...config(), chatbot: { ...config().chatbot, secretEnv: ['CUTOVER_TEST_KEY'] } };
    const plan = chmSteps(c).map((step) => ({ step, actions: step.plan({ config: c, facts, runId: '20261122-000000-abcd', runDir: '/tmp/x' }) }));
    const everything = JSON.stringify(planToJson('migrate-chm', 'r', 'c', 'f', plan)) + JSON.stringify(plan.map((p) => p.actions.map((a) => a.cmd)));
    expect(everything).not.toContain('sk-live-DO-NOT-PRINT-4242');
    const upload = plan.flatMap((p) => p.actions).find((a) => a.cmd.kind === 'upload' && a.cmd.path.endsWith('/secrets.env'))!;
    expect(show(upload.cmd)).toBe('upload (sudo): [REDACTED] -> /home/ubuntu/chm-deploy/secrets.env (mode 600) (owner ubuntu:ubuntu)');
    expect(secretsEnv(c).reveal()).toBe('CUTOVER_TEST_KEY="sk-live-DO-NOT-PRINT-4242"\n');
  });

  it('names a missing secret and how to set it', () => {
    delete process.env.CUTOVER_MISSING;
    const c = { ...config(), chatbot: { ...config().chatbot, secretEnv: ['CUTOVER_MISSING'] } };
    expect(() => secretsEnv(c)).toThrow(/secret CUTOVER_MISSING .* is not set in this shell: export CUTOVER_MISSING=/);
  });

  it('every mutating step of the cutover has an undo, and backups are never undone', () => {
    const c = config();
    const plan = chmSteps(c).map((step) => ({ id: step.id, actions: step.plan({ config: c, facts, runId: '20261122-000000-abcd', runDir: '/tmp/x' }) }));
    for (const id of ['cutover.ready', 'cutover.stop-writer', 'cutover.start', 'cutover.open', 'cutover.stop-frontend', 'cutover.disable', 'volumes.create', 'deploy.up'])
      expect(plan.find((p) => p.id === id)!.actions.some((a) => a.undo?.length), id).toBe(true);
    for (const p of plan.filter((x) => x.id.startsWith('backup.'))) for (const a of p.actions) expect(a.undo ?? []).toEqual([]);
  });

  it('declares its data safety: volume removal is destroys-data with a keep, and the public writes to the containers from cutover.open, when the gate opens', () => {
    const c = config();
    const steps = chmSteps(c);
    const plan = steps.map((step) => ({ step, actions: step.plan({ config: c, facts, runId: '20261122-000000-abcd', runDir: '/tmp/x' }) }));
    const volumeUndos = plan.flatMap((p) => p.actions).filter((a) => a.undo?.some((u) => u.kind === 'docker' && u.op === 'volumeRemoveOwned'));
    expect(volumeUndos).toHaveLength(3);
    for (const a of volumeUndos) expect(a).toMatchObject({ undoKind: 'destroys-data', keep: [expect.objectContaining({ kind: 'remote' })] });
    const ids = steps.map((s) => s.id);
    expect(steps.filter((s) => s.takesWrites).map((s) => s.id)).toEqual(['cutover.open']);
    expect(ids.indexOf('cutover.start')).toBeLessThan(ids.indexOf('cutover.open'));
  });

  it('needs no app endpoint: without healthPath/statsPath no command uses one; the snapshot may pause the writer', () => {
    const base = config();
    const c = { ...base, chatbot: { ...base.chatbot, healthPath: undefined, statsPath: undefined } };
    const plan = chmSteps(c).map((step) => ({ step, actions: step.plan({ config: c, facts, runId: '20261122-000000-abcd', runDir: '/tmp/x' }) }));
    const printed = JSON.stringify(planToJson('migrate-chm', 'r', 'c', 'f', plan));
    expect(printed).not.toMatch(/\/api\/stats|\/health/);
    const snap = plan.find((p) => p.step.id === 'backup.snapshot')!.actions[0].cmd;
    expect(show(snap)).toMatch(/snapshot .* --pause 'sudo -n -- supervisorctl stop chatbot-backend' --resume '.*supervisorctl start .*chatbot-backend'$/);
    const withStats = JSON.stringify(planToJson('migrate-chm', 'r', 'c', 'f', chmSteps(base).map((step) => ({ step, actions: step.plan({ config: base, facts, runId: '20261122-000000-abcd', runDir: '/tmp/x' }) }))));
    expect(withStats).toContain('/api/stats');
  });
});
