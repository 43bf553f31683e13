import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { remote } from '../engine/command.ts';
import { joinScript } from '../engine/host-tool.ts';
import type { Stamped } from '../engine/journal.ts';
import { checkResults, checklistLines, splitError } from './checklist.ts';
import { stackSchema } from './config.ts';
import { deletesVolumes, refuseUnconfirmedVolumeDeletes } from './guard.ts';
import { PROBE_PARTS, stackSteps, type StackFacts } from './steps.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const config = (name: string, over: Record<string, unknown> = {}) =>
  stackSchema.parse({ ...parse(readFileSync(resolve(ROOT, `runbooks/stacks/${name}.yaml`), 'utf8')), ...over });
const svc = (service: string, running: boolean) => ({ service, ids: [`id-${service}`], running, healthy: running });
const facts: StackFacts = {
  found: {
    running: true,
    files: ['/home/ubuntu/stacks/dimini/docker-compose.local-prod.yml'],
    services: [svc('backend', true), svc('frontend', true), svc('postgres', true)],
  },
  volumes: ['dimini_postgres_data_local'],
};
const ctx = (c: ReturnType<typeof config>) => ({
  config: c,
  facts,
  runId: '20261122-000000-abcd',
  runDir: '/tmp/none',
});

describe('verify-stack plan', () => {
  it("each seed's checklist becomes its steps: reads are checks, changes carry the undo back to the found state", () => {
    expect(stackSteps(config('rhinon')).map((s) => s.id)).toEqual([
      'check.config',
      'check.ports',
      'stack.up',
      'check.healthy',
      'check.reach',
      'check.logs',
      'stack.restart',
      'stack.as-found',
      'verdict',
    ]);
    expect(stackSteps(config('aiwhisperers')).map((s) => s.id)).toContain('stack.overlay.prod');
    const c = config('dimini');
    for (const s of stackSteps(c)) {
      for (const a of s.plan(ctx(c))) {
        expect(deletesVolumes(a.cmd)).toBe(false);
        if (!a.cmd.reads) expect(Boolean(a.undo?.length || a.undoneBy), `${s.id}: ${a.cmd.says}`).toBe(true);
      }
    }
    const up = stackSteps(c)
      .find((s) => s.id === 'stack.up')!
      .plan(ctx(c))[0];
    expect(up.undo![0].says).toMatch(/put the stack back as found.*docker-compose.local-prod.yml/);
    const upAbsent = stackSteps(c)
      .find((s) => s.id === 'stack.up')!
      .plan({ ...ctx(c), facts: { ...facts, found: { running: false, files: [] } } })[0];
    expect(upAbsent.undo![0].says).toMatch(/take the stack down again.*volumes kept/);
  });

  it('the stack is left as found, success or failure: the final step and the undo put each service back', () => {
    const c = config('dimini');
    const services = [svc('backend', true), svc('frontend', false), svc('postgres', true)];
    const partly = { ...facts, found: { ...facts.found, services } };
    const arg = (cmd: { kind: string; argv?: string[] }) => JSON.parse(cmd.argv![4]);
    const last = stackSteps(c)
      .find((s) => s.id === 'stack.as-found')!
      .plan({ ...ctx(c), facts: partly })[0];
    const undo = stackSteps(c)
      .find((s) => s.id === 'stack.up')!
      .plan({ ...ctx(c), facts: partly })[0].undo![0];
    for (const cmd of [last.cmd, undo]) {
      expect(cmd.kind === 'remote' && cmd.argv[3]).toBe('as-found');
      expect(arg(cmd as any).found).toEqual({
        files: facts.found.files,
        running: ['backend', 'postgres'],
        healthy: ['backend', 'postgres'],
        stopped: ['frontend'],
      });
    }
    expect(last.cmd.says).toMatch(/partly up: backend, postgres running; frontend stopped/);
    const stopped = { ...facts, found: { ...facts.found, running: false, services: [svc('postgres', false)] } };
    const asFound = stackSteps(c).find((s) => s.id === 'stack.as-found')!;
    expect(arg(asFound.plan({ ...ctx(c), facts: stopped })[0].cmd as any).found).toMatchObject({
      running: [],
      stopped: ['postgres'],
    });
  });

  it('the persistence check refuses first when a service has data on an anonymous volume; down checks again', () => {
    const c = config('dimini');
    const p = stackSteps(c)
      .find((s) => s.id === 'stack.persist')!
      .plan(ctx(c));
    const op = (a: (typeof p)[number]) => (a.cmd.kind === 'remote' ? a.cmd.argv[3] : '');
    expect(p.map(op)).toEqual(['anonymous', 'marker-write', 'down', 'up', 'marker-read', 'marker-delete']);
    expect(p[0].cmd.reads).toBe(true);
    expect(JSON.parse((p[2].cmd as any).argv[4]).refuseAnonymous).toBe(true);
  });

  it('a down -v anywhere in a plan is refused unless every volume name is typed', () => {
    expect(deletesVolumes(remote(['docker', 'compose', '-p', 'x', 'down', '-v']))).toBe(true);
    expect(deletesVolumes(remote(['docker', 'compose', 'down', '--volumes']))).toBe(true);
    expect(deletesVolumes(remote(['sh', '-c', 'cd /x && docker compose -f a.yml down -v']))).toBe(true);
    expect(deletesVolumes(remote(['docker', 'volume', 'rm', 'v']))).toBe(true);
    expect(deletesVolumes(remote(['docker', 'compose', 'down']))).toBe(false);
    const fresh = config('dimini', { freshVolumes: true });
    const step = stackSteps(fresh).find((s) => s.id === 'stack.fresh-volumes')!;
    expect(() => step.plan(ctx(fresh))).toThrow(
      /deletes volumes.*dimini_postgres_data_local.*confirmVolumes: \[dimini_postgres_data_local\]/,
    );
    const ok = config('dimini', { freshVolumes: true, confirmVolumes: ['dimini_postgres_data_local'] });
    expect(
      stackSteps(ok)
        .find((s) => s.id === 'stack.fresh-volumes')!
        .plan(ctx(ok)),
    ).toHaveLength(1);
    // in an undo too
    expect(() =>
      refuseUnconfirmedVolumeDeletes(
        'x',
        [{ cmd: remote(['true']), undo: [remote(['docker', 'compose', 'down', '-v'])] }],
        ['a'],
        [],
      ),
    ).toThrow(/refused/);
  });
});

describe('checklist', () => {
  const e = (x: object) => ({ t: '', ...x }) as Stamped;
  const out = (ok: boolean, reason = '', fix = '', detail = {}) => JSON.stringify({ ok, reason, fix, detail });
  it('soft checks record ✗ without stopping; a failed step is ✗ with its reason and fix; later ones are not run', () => {
    const journal = [
      e({ type: 'step-start', step: 'stack.up' }),
      e({ type: 'action-done', step: 'stack.up', index: 0, ms: 1, out: out(true, '', '', { seconds: 2.5 }) }),
      e({ type: 'step-done', step: 'stack.up', ms: 1 }),
      e({ type: 'step-start', step: 'check.reach' }),
      e({
        type: 'action-done',
        step: 'check.reach',
        index: 0,
        ms: 1,
        out: out(false, 'redis is not reachable from backendai', 'put them on one network'),
      }),
      e({ type: 'step-done', step: 'check.reach', ms: 1 }),
      e({ type: 'step-start', step: 'stack.restart' }),
      e({
        type: 'step-failed',
        step: 'stack.restart',
        error: 'backendai is restarting; fix: fix its command (exit 1; 2 more lines with --verbose)',
      }),
    ];
    const r = checkResults(journal, ['stack.up', 'check.reach', 'stack.restart', 'stack.persist', 'verdict']);
    expect(r.map((x) => x.status)).toEqual(['pass', 'fail', 'fail', 'not-run']);
    expect(r[2]).toMatchObject({ reason: 'backendai is restarting', fix: 'fix its command' });
    const lines = checklistLines(r, {}, 'head');
    expect(lines.join('\n')).toMatch(/✓ stack\.up .*healthy in 2\.5 s/);
    expect(lines.join('\n')).toMatch(
      /✗ check\.reach[\s\S]*why: redis is not reachable from backendai\n {6}fix: put them on one network/,
    );
    expect(lines.at(-1)).toBe('2 of 4 checks did not hold, 1 not run');
    expect(splitError('a; b; fix: c (exit 1)')).toEqual({ reason: 'a; b', fix: 'c' });
  });
});

describe('probe.py: env values in reasons and fixes', () => {
  const shown = (key: string, value: string) =>
    spawnSync(
      'python3',
      ['-c', joinScript(import.meta.url, PROBE_PARTS), 'shown', JSON.stringify({ project: 'p', key, value })],
      { encoding: 'utf8' },
    ).stdout.trim();
  it('never shows a password: a URL keeps its user and host, a secret-named variable shows nothing', () => {
    expect(shown('DATABASE_URL', 'postgres://app:s3cr3t$#@db:5432/app')).toBe('postgres://app:[REDACTED]@db:5432/app');
    expect(shown('REDIS_URL', 'redis://:pw@redis:6379/0')).toBe('redis://:[REDACTED]@redis:6379/0');
    expect(shown('API_TOKEN', 'abc')).toBe('[REDACTED]');
    expect(shown('BACKEND_URL', 'http://backend:8000/api')).toBe('http://backend:8000/api');
  });
});
