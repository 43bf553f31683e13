import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../engine/config.ts';
import { composeFile } from './deploy.ts';
import { scheduledArgv, scheduleSchema, seconds } from './schedule.ts';
import { specSchema } from './spec.ts';

const SDLAB = () => loadConfig(resolve(import.meta.dirname, '../../runbooks/specs/sdlab.yaml'), specSchema);

describe('a scheduled job in its container', () => {
  it('intervals in seconds; a schedule is an interval and argv, nothing else', () => {
    expect(['30s', '15m', '1h', '2d'].map(seconds)).toEqual([30, 900, 3600, 172800]);
    expect(scheduleSchema.safeParse({ every: '0s', command: ['x'] }).success).toBe(false);
    expect(scheduleSchema.safeParse({ every: '@hourly', command: ['x'] }).success).toBe(false);
    expect(scheduleSchema.safeParse({ every: '1h', command: [] }).success).toBe(false);
    expect(scheduleSchema.safeParse({ every: '1h', command: 'prune' }).success).toBe(false);
  });

  it('runs the command after its first wait, then every period, each word as written; a failed run is logged and the next still runs; SIGTERM ends it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cutover-schedule-'));
    try {
      const out = join(dir, 'runs');
      // a word with blanks, quotes and $ reaches the command as one word, unexpanded
      const j = scheduledArgv({
        every: '1s',
        after: '1s',
        command: ['sh', '-c', 'printf "%s\\n" "$1" >> "$2"; exit 3', 'sh', `a b '$HOME' "x"`, out],
      });
      const [bin, ...args] = [...j.entrypoint, ...j.command];
      const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      const lines = () => {
        try {
          return readFileSync(out, 'utf8').split('\n').filter(Boolean);
        } catch {
          return [];
        }
      };
      for (let i = 0; i < 200 && lines().length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      expect(lines().slice(0, 2)).toEqual([`a b '$HOME' "x"`, `a b '$HOME' "x"`]);
      expect(stderr).toMatch(/scheduled job failed \(exit 3\): sh -c .*; the next run in 1 s/);
      const code = await new Promise<number | null>((r) => {
        p.once('exit', (c) => r(c));
        p.kill('SIGTERM');
      });
      expect(code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the sdlab spec's prune job: its compose service runs the loop (compose's $ escaped), with the volume of the data it writes, no port", () => {
    const s = SDLAB();
    const doc = parse(composeFile(s, '20261203-000000-abcd'));
    const prune = doc.services.prune;
    expect(prune.entrypoint.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(prune.entrypoint[2]).toContain('"$$@" ||'); // compose reads $$ as one $
    expect(prune.entrypoint[2].replaceAll('$$', '$')).toBe(scheduledArgv(s.services.prune.schedule!).entrypoint[2]);
    expect(prune.entrypoint.slice(3)).toEqual(['2', '3600']);
    expect(prune.command).toEqual(['python3', '/app/sdlab_prune.py']);
    expect(prune.volumes).toEqual(['sdlab_uploads:/uploads']);
    expect(prune.ports).toBeUndefined();
    expect(doc.services.web.entrypoint).toBeUndefined();
  });

  it('a scheduled job with a port is refused, naming the field', () => {
    const raw = { ...SDLAB() } as any;
    const bad = specSchema.safeParse({
      ...raw,
      services: { ...raw.services, prune: { ...raw.services.prune, port: 9999 } },
    });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toContain('services.prune.schedule');
  });
});
