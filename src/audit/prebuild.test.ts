import { describe, expect, it } from 'vitest';
import type { ContextFacts } from './audit.ts';
import { parseDockerfile } from './dockerfile.ts';
import {
  auditDockerfile,
  copyArgs,
  healthcheckCommands,
  healthcheckOf,
  nonRootOf,
  packageOps,
  runText,
  secretsOf,
  sourceTakes,
  toolchainOf,
} from './prebuild.ts';
import { renderMarkdown, renderTerminal, type AuditReport } from './report.ts';

const df = (text: string) => parseDockerfile('/src/Dockerfile', text);
const ctx = (files: string[], dockerignore: string | null = null): ContextFacts => ({
  dir: '/src',
  dockerignore,
  files,
});
const status = (r: { checks: { id: string; status: string }[] }) =>
  Object.fromEntries(r.checks.map((c) => [c.id, c.status]));
const lines = (r: { evidence: { line?: number }[] }) => r.evidence.map((e) => e.line);

describe('a Dockerfile audited without its image', () => {
  it('non-root: no USER or USER root fails with the line; a uid or a name passes; a build arg is undecided', () => {
    const none = nonRootOf(df('FROM python:3.11-slim AS b\nRUN true\nFROM python:3.11-slim\nCMD x\n'));
    expect([none.status, lines(none), none.evidence[0].what]).toEqual([
      'fail',
      [3],
      'the final stage has no USER instruction',
    ]);
    const root = nonRootOf(df('FROM a:1\nUSER 10001\nUSER root:root\n'));
    expect([root.status, lines(root)]).toEqual(['fail', [3]]);
    expect(nonRootOf(df('FROM a:1\nUSER 0\n')).status).toBe('fail');
    const uid = nonRootOf(df('FROM a:1\nUSER root\nUSER 10001\n'));
    expect([uid.status, lines(uid)]).toEqual(['pass', [3]]);
    expect(nonRootOf(df('FROM a:1\nUSER node\n')).summary).toMatch(/^runs as node \(line 2; a name/);
    // a USER in the stage the final one is built FROM counts; one in an unrelated builder does not
    const chained = nonRootOf(df('FROM a:1 AS base\nUSER 10001\nFROM base\nCMD x\n'));
    expect([chained.status, lines(chained)]).toEqual(['pass', [2]]);
    expect(nonRootOf(df('FROM a:1 AS b\nUSER 10001\nFROM a:1\nCMD x\n')).status).toBe('fail');
    expect(nonRootOf(df('FROM a:1\nARG U=0\nUSER $U\n')).status).toBe('undecided');
  });

  it('healthcheck: none or NONE fails; one present is undecided (is its command in the image?); compose counts', () => {
    const none = healthcheckOf({ dockerfile: df('FROM a:1\nCMD x\n') });
    expect([none.status, lines(none)]).toEqual(['fail', [1]]);
    const off = healthcheckOf({ dockerfile: df('FROM a:1\nHEALTHCHECK NONE\n') });
    expect([off.status, lines(off)]).toEqual(['fail', [2]]);
    const hc = healthcheckOf({
      dockerfile: df('FROM a:1\nHEALTHCHECK --interval=5s \\\n  CMD wget -qO- http://x/ || exit 1\n'),
    });
    expect([hc.status, lines(hc)]).toEqual(['undecided', [2]]);
    expect(hc.summary).toMatch(/^needs an image \(does it have \/bin\/sh, wget\?\): run with --image NAME/);
    const text = 'services:\n  api:\n    healthcheck: { test: [CMD, curl, -f, x] }\n';
    const compose = { file: '/src/compose.yaml', service: 'api', text };
    const viaCompose = healthcheckOf({ dockerfile: df('FROM a:1\n'), compose });
    expect(viaCompose).toMatchObject({ status: 'undecided', summary: expect.stringContaining('does it have curl?') });
    expect(healthcheckCommands('--retries=3 CMD ["python3", "-c", "1"]')).toEqual(['python3']);
  });

  it('secrets: ENV/ARG/LABEL values, and secret files the final stage copies from the context', () => {
    const text =
      'FROM a:1 AS b\nARG NPM_TOKEN=abcdef123456\nCOPY . .\n' +
      'FROM a:1\nENV API_KEY=sk-proj-abcdefghijklmnopqrstuvwx\nCOPY app/ ./app\nCOPY . .\n';
    const context = ctx(['.env', 'app/.env.local', 'app/.env.example', 'node_modules']);
    const r = secretsOf({ dockerfile: df(text), context });
    expect(r.status).toBe('fail');
    expect(r.evidence.map((e) => `${e.line} ${e.file}`)).toEqual([
      '2 /src/Dockerfile',
      '5 /src/Dockerfile',
      '6 /src/app/.env.local',
      '7 /src/.env',
      '7 /src/app/.env.local',
    ]);
    expect(r.evidence[0].what).toMatch(/stage b: not in the final image/);
    expect(r.evidence[1].what).not.toContain('abcdefghijklmnop'); // redacted
    // .dockerignore keeps them out; COPY --from and named files do not take them
    const ignored = secretsOf({
      dockerfile: df('FROM a:1\nCOPY . .\n'),
      context: ctx(['.env', 'sub/.env'], '**/.env\n'),
    });
    expect(ignored.status).toBe('undecided');
    const named = secretsOf({
      dockerfile: df('FROM a:1\nCOPY --from=b /x .\nCOPY main.py ./\n'),
      context: ctx(['.env']),
    });
    expect(named.status).toBe('undecided');
    expect(sourceTakes('package*.json', 'package-lock.json')).toBe(true);
    expect(sourceTakes('./conf', 'conf/.env')).toBe(true);
    expect(sourceTakes('conf', 'confx/.env')).toBe(false);
    expect(copyArgs('--chown=a:b ["a b", "c", "/dst/"]')).toEqual({ flags: ['--chown=a:b'], sources: ['a b', 'c'] });
  });

  it('toolchain: a compiler installed in the final stage and not removed fails with its RUN line', () => {
    const text =
      'FROM a:1 AS b\nRUN apt-get install -y make\nFROM a:1\nRUN apt-get update && \\\n' +
      '  apt-get install -y --no-install-recommends gcc curl\n';
    const gcc = toolchainOf(df(text));
    expect([gcc.status, gcc.summary, lines(gcc)]).toEqual([
      'fail',
      'a build toolchain ships in the final image: gcc',
      [4],
    ]);
    const purged = 'FROM a:1\nRUN apt-get install -y gcc && make && apt-get purge -y gcc\n';
    expect(toolchainOf(df(purged)).status).toBe('undecided');
    const group = 'FROM a:1\nRUN apk add --virtual .b build-base g++\nRUN make && apk del .b\n';
    expect(toolchainOf(df(group)).status).toBe('undecided');
    const apk = toolchainOf(df('FROM a:1\nRUN apk add --no-cache build-base=0.5-r3\n'));
    expect([apk.status, lines(apk)]).toEqual(['fail', [2]]);
    const ops = 'DEBIAN_FRONTEND=noninteractive apt-get -y install gcc-12:amd64 make=4.3 && yum remove -y cmake';
    expect(packageOps(ops)).toEqual([
      { op: 'add', pkgs: ['gcc-12', 'make'] },
      { op: 'del', pkgs: ['cmake'] },
    ]);
    expect(runText('--mount=type=cache,target=/var/cache ["/bin/sh", "-c", "apk add gcc"]')).toBe('apk add gcc');
  });

  it('every check has a verdict or says it needs an image; the table and audit.md mark – for undecided', () => {
    const r = auditDockerfile({ dockerfile: df('FROM node\nCOPY . .\nCMD x\n'), context: ctx(['.env']) });
    expect(status(r)).toEqual({
      'non-root': 'fail',
      healthcheck: 'fail',
      secrets: 'fail',
      toolchain: 'undecided',
      'dev-deps': 'undecided',
      'multi-stage': 'fail',
      'base-pinned': 'fail',
      size: 'undecided',
      dockerignore: 'fail',
      'resource-limits': 'na',
      'restart-policy': 'na',
    });
    for (const c of r.checks.filter((x) => x.status === 'undecided'))
      expect(c.summary, c.id).toMatch(/^needs an image \(.+\): run with --image NAME/);
    expect(r).not.toHaveProperty('id');
    const clean = '.env\n.git\nnode_modules\nvenv\n';
    // two stages since multi-stage is checked: a single-stage Dockerfile fails it
    const gdf = df(
      'FROM node:20-alpine AS build\nRUN npm ci\nFROM node:20-alpine\nCOPY --from=build /app /app\n' +
        'USER 1000\nHEALTHCHECK CMD node -e 1\n',
    );
    const good = auditDockerfile({ dockerfile: gdf, context: ctx([], clean) });
    expect(Object.values(status(good)).filter((s) => s === 'fail')).toEqual([]);
    expect(lines(good.checks.find((c) => c.id === 'base-pinned')!)).toEqual([1, 3]);
    expect(lines(good.checks.find((c) => c.id === 'multi-stage')!)).toEqual([4]);
    const fatalFailures = ['/src/Dockerfile: non-root'];
    const report: AuditReport = { runId: 'x', host: 'this machine', images: [r], fatalFailures, exitCode: 1 };
    const term = renderTerminal(report, false);
    expect(term).toMatch(/– size\s+4\.3\s+–\s+needs an image \(its size\)/);
    expect(term).toMatch(/^1 Dockerfile \(no image\): 6 checks failed, 3 not decided without an image, 1 fatal/m);
    expect(renderMarkdown(report)).toContain(
      '| – | size | 4.3 | – | needs an image (its size): run with --image NAME |',
    );
  });
});
