/**
 * The repo's own Dockerfiles as inputs of the Dockerfile-only audit (read, never built or run):
 * the CHM ones in compose/, the lab's todo fixtures (good and flawed), and every other one under
 * scripts/lab/, which must audit without an error and keep the verdict rules.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECK_IDS, type CheckResult } from './checks.ts';
import { gatherLocal } from './local.ts';
import { auditDockerfile } from './prebuild.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const audit = async (rel: string) => auditDockerfile(await gatherLocal({ dockerfile: resolve(ROOT, rel) }));
const pick = async (rel: string, ids: string[]) => {
  const r = await audit(rel);
  return Object.fromEntries(
    ids.map((id) => {
      const c = r.checks.find((x) => x.id === id)!;
      return [
        id,
        `${c.status} ${c.decided?.status ?? '-'} [${c.decided?.lines.join(',') ?? ''}] ${c.needs ?? ''}`.trim(),
      ];
    }),
  );
};
const IDS = ['multi-stage', 'secrets', 'healthcheck', 'toolchain'];

function dockerfiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(resolve(ROOT, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules') out.push(...dockerfiles(p));
    else if (e.isFile() && /^Dockerfile(\..+)?$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

describe("the repo's Dockerfiles, audited alone", () => {
  it('the lab todo backends: flawed fails what its Dockerfile shows, good passes it and leaves the rest to the image', async () => {
    expect(await pick('scripts/lab/todo/flawed/backend/Dockerfile', IDS)).toEqual({
      'multi-stage': 'pass pass [19]',
      secrets: 'fail fail [12,22] the files in its layers', // ENV OPENAI_API_KEY, COPY . . of the .env
      healthcheck: 'fail fail [9]',
      toolchain: 'fail fail [15] the packages python:3.11-slim carries', // gcc
    });
    expect(await pick('scripts/lab/todo/good/backend/Dockerfile', IDS)).toEqual({
      'multi-stage': 'pass pass [12]',
      secrets: 'undecided pass [] the files in its layers',
      healthcheck: 'undecided pass [17,13] does it have curl?', // /bin/sh: the RUN useradd at 13 ran in it
      toolchain: 'undecided pass [] the packages python:3.11-slim carries',
    });
  });

  it('the lab todo frontends: the wget and curl probes need the image (nothing installs them)', async () => {
    expect(await pick('scripts/lab/todo/flawed/frontend/Dockerfile', IDS)).toEqual({
      'multi-stage': 'pass pass [17,18,19]',
      secrets: 'undecided pass [] the files in its layers',
      healthcheck: 'undecided pass [23] does it have /bin/sh, wget?',
      toolchain: 'undecided pass [] the packages node:20-alpine carries',
    });
    expect(await pick('scripts/lab/todo/good/frontend/Dockerfile', IDS)).toEqual({
      'multi-stage': 'pass pass [20,21,22]',
      secrets: 'undecided pass [19] the files in its layers',
      healthcheck: 'undecided pass [25] does it have /bin/sh, curl?',
      toolchain: 'undecided pass [] the packages node:20-alpine carries',
    });
  });

  it('the CHM Dockerfiles in compose/: multi-stage by FROM deps and by COPY --from=builder', async () => {
    expect(await pick('compose/Dockerfile.backend', IDS)).toEqual({
      'multi-stage': 'pass pass [8]',
      secrets: 'undecided pass [15] the files in its layers',
      healthcheck: 'undecided pass [17,6] does it have python3?',
      toolchain: 'undecided pass [] the packages python:3.11-slim carries',
    });
    expect((await pick('compose/Dockerfile.frontend', ['multi-stage']))['multi-stage']).toBe('pass pass [12,13,14]');
  });

  it('every Dockerfile under compose/ and scripts/lab/ audits: each check once, – says what it needs, ✗ has its line', async () => {
    const files = [...dockerfiles('compose'), ...dockerfiles('scripts/lab')];
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) {
      const r = await audit(f);
      expect(r.checks.map((c) => c.id).sort(), f).toEqual([...CHECK_IDS].sort());
      const split = r.checks.filter((c): c is CheckResult & { decided: object } => c.decided !== undefined);
      expect(split.map((c) => c.id).sort(), f).toEqual([...IDS].sort());
      for (const c of split) {
        const expected = c.decided!.status === 'fail' ? 'fail' : c.needs ? 'undecided' : 'pass';
        expect(c.status, `${f} ${c.id}`).toBe(expected);
        if (c.status === 'fail')
          expect(
            c.evidence.some((e) => e.line !== undefined),
            `${f} ${c.id}`,
          ).toBe(true);
        if (c.status === 'undecided')
          expect(c.summary, `${f} ${c.id}`).toMatch(/^needs an image \(.+\): run with --image NAME; Dockerfile ✓ /);
      }
    }
  });
});
