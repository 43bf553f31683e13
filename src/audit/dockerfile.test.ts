import { describe, expect, it } from 'vitest';
import { alignHistory, historyKeyword, lastOf, parseDockerfile, shellCommands, unpinnedFroms } from './dockerfile.ts';

const DF = `# syntax=docker/dockerfile:1
ARG PY=3.11
FROM python:\${PY}-slim AS deps
ENV API_TOKEN=abc123
RUN pip install \\
    -r requirements.txt

FROM deps AS runtime
USER root
COPY . .
USER 10001
HEALTHCHECK --interval=30s \\
  CMD curl -f http://localhost/health || exit 1
CMD ["python3", "app.py"]

FROM node AS tools
FROM node:latest AS tools2
FROM registry.local:5000/base
FROM busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
FROM runtime
`;

describe('Dockerfile facts (dockerfile-ast)', () => {
  const f = parseDockerfile('/srv/app/Dockerfile', DF);

  it('stages, the final chain through FROM <stage>, and 1-based lines across continuations', () => {
    expect(f.stages.map((s) => s.name ?? '-')).toEqual(['deps', 'runtime', 'tools', 'tools2', '-', '-', '-']);
    expect(f.stages[0].from.image).toBe('python:3.11-slim'); // global ARG resolved
    // the last stage is FROM runtime, which is FROM deps: its chain holds all three stages' instructions
    expect(f.finalChain.map((i) => `${i.keyword}:${i.line}`)).toEqual([
      'ENV:4',
      'RUN:5',
      'USER:9',
      'COPY:10',
      'USER:11',
      'HEALTHCHECK:12',
      'CMD:14',
    ]);
    expect(lastOf(f.finalChain, 'USER')?.args).toBe('10001');
    expect(f.settings.find((s) => s.key === 'API_TOKEN')).toMatchObject({
      keyword: 'ENV',
      value: 'abc123',
      line: 4,
      stage: 0,
    });
  });

  it('unpinned bases: no tag or :latest; stages, digests and registry ports are fine', () => {
    expect(unpinnedFroms(f).map((u) => `${u.from.line} ${u.why}`)).toEqual([
      '16 node has no tag (means :latest)',
      '17 node:latest uses :latest',
      '18 registry.local:5000/base has no tag (means :latest)',
    ]);
  });

  it('history entries map to instructions from the newest end (a --label entry from the CLI is skipped)', () => {
    const history = [
      { created_by: '/bin/sh -c #(nop) ADD file:x in /' }, // base image
      { created_by: '/bin/sh -c #(nop)  ENV API_TOKEN=abc123', empty_layer: true },
      { created_by: '/bin/sh -c pip install -r requirements.txt' },
      { created_by: '/bin/sh -c #(nop)  USER root', empty_layer: true },
      { created_by: '/bin/sh -c #(nop) COPY dir:abc in . ' },
      { created_by: '/bin/sh -c #(nop)  USER 10001', empty_layer: true },
      {
        created_by: '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/health || exit 1"]}',
        empty_layer: true,
      },
      { created_by: '/bin/sh -c #(nop)  CMD ["python3" "app.py"]', empty_layer: true },
      { created_by: '/bin/sh -c #(nop)  LABEL io.example.hash=1', empty_layer: true },
    ];
    const m = alignHistory(history, f.finalChain);
    expect(m.get(4)?.line).toBe(10);
    expect(m.get(2)?.line).toBe(5);
    expect(m.has(0)).toBe(false); // base image
    expect(historyKeyword('COPY . . # buildkit')).toBe('COPY');
    expect(historyKeyword('RUN /bin/sh -c make # buildkit')).toBe('RUN');
    expect(historyKeyword('|1 TOKEN=x /bin/sh -c make')).toBe('RUN');
  });

  it('the commands a shell line runs', () => {
    expect(shellCommands('curl -f http://x || exit 1')).toEqual(['curl', 'exit']);
    expect(shellCommands('FOO=1 exec wget -q -O- http://x && test -f /ok; /usr/bin/env python3 -c "x"')).toEqual([
      'wget',
      'test',
      'python3',
    ]);
  });
});

describe('shell commands of a HEALTHCHECK', () => {
  it('operators inside quotes are text, not commands', () => {
    expect(
      shellCommands(
        `python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"`,
      ),
    ).toEqual(['python3']);
    expect(
      shellCommands(`node -e "fetch('http://x').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"`),
    ).toEqual(['node']);
    expect(shellCommands(`curl -f "http://x/a;b" && echo 'ok | fine' || exit 1`)).toEqual(['curl', 'echo', 'exit']);
    expect(shellCommands('test $(cat /tmp/x) = ok')).toEqual(['test', 'cat']); // (a $( ) inside double quotes is not followed)
  });
});
