import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile.ts';
import { checkMultiStage, fromStage, multiStageOf } from './multistage-check.ts';

const FIXTURES = resolve(import.meta.dirname, '../../test/fixtures/audit');
const fixture = (name: string) => parseDockerfile(`/src/${name}`, readFileSync(resolve(FIXTURES, name), 'utf8'));
const df = (text: string) => parseDockerfile('/src/Dockerfile', text);
const lines = (r: { evidence: { line?: number }[] }) => r.evidence.map((e) => e.line);

describe('multi-stage (seed 003: "Dockerfiles follow multi-stage pattern"), decided by the Dockerfile', () => {
  it('a Python builder whose result the final stage copies passes, at the COPY --from line', () => {
    const r = multiStageOf(fixture('python-multistage.Dockerfile'));
    expect([r.status, lines(r), r.decided]).toEqual([
      'pass',
      [13],
      {
        status: 'pass',
        what: '2 stages; the final one (line 9 FROM python:3.11-slim) copies from builder',
        lines: [13],
      },
    ]);
    expect(r.summary).toBe('2 stages; the final one (line 9 FROM python:3.11-slim) copies from builder (line 13)');
    expect(r).not.toHaveProperty('needs'); // nothing about it needs the image
  });

  it('a Node runner built FROM a base stage, copying from a stage by name and one by index, passes', () => {
    const r = multiStageOf(fixture('node-multistage.Dockerfile'));
    expect([r.status, lines(r), r.evidence.map((e) => e.what)]).toEqual([
      'pass',
      [16, 18, 19],
      ['the final stage is built FROM the earlier stage base', 'COPY --from=deps', 'COPY --from=build'],
    ]);
    expect(r.summary).toMatch(/^4 stages; the final one \(line 16 FROM base AS runner\) is built FROM stage base and/);
  });

  it('a single stage fails at its FROM, and says why', () => {
    const r = multiStageOf(fixture('single-stage.Dockerfile'));
    expect([r.status, lines(r), r.decided?.lines]).toEqual(['fail', [2], [2]]);
    expect(r.summary).toBe(
      'a single stage (line 2 FROM node:20-bookworm-slim): whatever builds the app ships in the image with it',
    );
    expect(r.fix).toMatch(/COPY --from=builder/);
  });

  it('earlier stages the final one takes nothing from fail at the final FROM', () => {
    const unused = df(
      'FROM node:20 AS build\nRUN npm ci\n\nFROM node:20-slim\nCOPY . .\nCOPY --from=nginx:1.25 /etc/x /x\n',
    );
    const r = multiStageOf(unused);
    expect([r.status, lines(r)]).toEqual(['fail', [4]]);
    expect(r.summary).toMatch(/^2 stages, but the final one \(line 4 FROM node:20-slim\) neither copies/);
    // a later stage is not an earlier one, an index past the final stage neither
    expect(multiStageOf(df('FROM a:1\nCOPY --from=1 /x /x\nFROM b:1 AS later\n')).status).toBe('fail');
    expect(multiStageOf(df('FROM a:1 AS one\nFROM b:1\nCOPY --from=5 /x /x\n')).status).toBe('fail');
  });

  it('COPY --from with a build arg is undecided (the build gives the value); stage lookup by name and index', () => {
    const r = multiStageOf(df('FROM a:1 AS b\nFROM c:1\nARG FROM_STAGE=b\nCOPY --from=${FROM_STAGE} /x /x\n'));
    expect([r.status, lines(r)]).toEqual(['undecided', [4]]);
    const d = df('FROM a:1 AS Builder\nFROM b:1 AS two\nFROM c:1\n');
    expect([
      fromStage(d, 'builder', 2),
      fromStage(d, '1', 2),
      fromStage(d, '2', 2),
      fromStage(d, 'alpine:3', 2),
    ]).toEqual([0, 1, undefined, undefined]);
  });

  it('with an image: the same verdict from its Dockerfile; no Dockerfile, not applicable', () => {
    const d = fixture('python-multistage.Dockerfile');
    expect(checkMultiStage({ dockerfile: d })).toEqual(multiStageOf(d));
    expect(checkMultiStage({})).toMatchObject({ id: 'multi-stage', status: 'na' });
  });
});
