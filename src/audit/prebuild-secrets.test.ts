import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ContextFacts } from './audit.ts';
import { parseDockerfile } from './dockerfile.ts';
import { secretsOf } from './prebuild-secrets.ts';

const FIXTURES = resolve(import.meta.dirname, '../../test/fixtures/audit');
const fixture = (name: string) => parseDockerfile(`/src/${name}`, readFileSync(resolve(FIXTURES, name), 'utf8'));
const ctx = (files: string[], dockerignore: string | null = null): ContextFacts => ({
  dir: '/src',
  dockerignore,
  files,
});
const lines = (r: { evidence: { line?: number }[] }) => r.evidence.map((e) => e.line);

describe('secrets on a Dockerfile alone: the Dockerfile decides ENV/ARG/LABEL, the image its files', () => {
  it('ENV API_KEY=sk-… fails at its line, redacted; the files in the layers still need the image', () => {
    const r = secretsOf({ dockerfile: fixture('env-secret.Dockerfile') });
    expect([r.status, lines(r), r.decided, r.needs]).toEqual([
      'fail',
      [9],
      { status: 'fail', what: '1 secret baked into the image or its Dockerfile', lines: [9] },
      'the files in its layers',
    ]);
    expect(r.evidence[0].what).toMatch(/^ENV in the Dockerfile: API_KEY=sk-proj-…\(\d+ chars\)/);
    expect(r.evidence[0].what).not.toContain('FIXTUREfake0key'); // redacted
    expect(r.evidence[0].instruction).toBe('/src/env-secret.Dockerfile:9 ENV API_KEY=…');
  });

  it('a secret file of the context the final stage copies fails at the COPY, beside the ENV', () => {
    const r = secretsOf({ dockerfile: fixture('env-secret.Dockerfile'), context: ctx(['.env', '.env.example']) });
    expect([r.status, lines(r), r.decided?.lines]).toEqual(['fail', [9, 13], [9, 13]]);
    expect(r.evidence[1]).toMatchObject({ file: '/src/.env', line: 13 });
  });

  it('no setting looks like a secret: that part passes with the lines checked; the check stays – for the files', () => {
    const r = secretsOf({ dockerfile: fixture('python-multistage.Dockerfile'), context: ctx(['.env'], '.env\n') });
    expect([r.status, r.decided, r.needs]).toEqual([
      'undecided',
      {
        status: 'pass',
        what:
          'none of its 3 ENV/ARG/LABEL settings looks like a secret, ' +
          'its final stage copies no secret file from the context',
        lines: [10, 11],
      },
      'the files in its layers',
    ]);
    expect(r.summary).toBe(
      'needs an image (the files in its layers): run with --image NAME; Dockerfile ✓ none of its 3 ENV/ARG/LABEL ' +
        'settings looks like a secret, its final stage copies no secret file from the context (lines 10, 11)',
    );
  });

  it('a Dockerfile with no ENV/ARG/LABEL at all passes that part too, and says so', () => {
    const r = secretsOf({ dockerfile: fixture('single-stage.Dockerfile') });
    expect([r.status, r.decided?.status, r.decided?.what, r.decided?.lines]).toEqual([
      'undecided',
      'pass',
      'it has no ENV/ARG/LABEL setting',
      [],
    ]);
  });
});
