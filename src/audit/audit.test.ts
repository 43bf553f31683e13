import { describe, expect, it } from 'vitest';
import {
  LayerMap,
  interpolate,
  checkCompose,
  checkDevDeps,
  checkDockerignore,
  checkHealthcheck,
  checkNonRoot,
  checkToolchain,
  historySettings,
  installedPackages,
  type ImageFacts,
} from './audit.ts';
import { parseDockerfile } from './dockerfile.ts';
import { mergeLayers, type LayerScan } from './layers.ts';

type E = [path: string, type?: 'file' | 'dir' | 'symlink', extra?: { mode?: number; link?: string; body?: string }];
function layer(entries: E[]): LayerScan {
  const l: LayerScan = { entries: new Map(), whiteouts: [], opaque: [], secrets: [], kept: new Map(), bytes: 0 };
  for (const [p, type = 'file', x = {}] of entries) {
    l.entries.set(p, {
      type,
      mode: x.mode ?? (type === 'dir' ? 0o755 : 0o644),
      size: x.body?.length ?? 0,
      ...(x.link ? { link: x.link } : {}),
    });
    if (x.body !== undefined) l.kept.set(p, Buffer.from(x.body));
  }
  return l;
}
const exe = { mode: 0o755 };
function facts(layers: LayerScan[], over: Partial<ImageFacts> = {}): ImageFacts {
  return {
    name: 'img:1',
    inspect: { Id: 'sha256:1', Size: 1, Config: {}, ...over.inspect },
    fs: { layers, merged: mergeLayers(layers) },
    sizeBudget: 1e9,
    ...over,
  };
}
const base = layer([
  ['usr/bin/dash', 'file', exe],
  ['usr/bin/sh', 'symlink', { link: 'dash' }],
  ['bin', 'symlink', { link: 'usr/bin' }],
  ['usr/bin/python3', 'file', exe],
  [
    'etc/passwd',
    'file',
    { body: 'root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\napp:x:10001:10001::/app:/bin/sh\n' },
  ],
]);
const lm = (f: ImageFacts) => new LayerMap(f);

describe('checks', () => {
  it('non-root: empty, 0, root, and a name with uid 0 fail; a uid or a real user passes; the Dockerfile line is the evidence', () => {
    const df = parseDockerfile('/d/Dockerfile', 'FROM python:3.11-slim\nRUN true\n');
    const run = (User: string) => {
      const f = facts([base], { inspect: { Id: 'x', Size: 1, Config: { User } }, dockerfile: df });
      return checkNonRoot(f, lm(f));
    };
    expect(run('').status).toBe('fail');
    expect(run('').evidence[1]).toMatchObject({
      what: 'the final stage has no USER instruction',
      instruction: '/d/Dockerfile:1 FROM python:3.11-slim',
    });
    expect(run('0:0').status).toBe('fail');
    expect(run('root').status).toBe('fail');
    expect(run('toor').summary).toMatch(/uid 0/);
    expect(run('10001').status).toBe('pass');
    expect(run('app').status).toBe('pass');
  });

  it('healthcheck: the command must exist in the merged filesystem (PATH, symlinks, whiteouts)', () => {
    const hc = (test: string[], layers = [base]) => {
      const f = facts(layers, { inspect: { Id: 'x', Size: 1, Config: { Healthcheck: { Test: test } } } });
      return checkHealthcheck(f, lm(f));
    };
    expect(hc(['CMD-SHELL', 'curl -f http://x/health || exit 1']).summary).toMatch(/`curl`/);
    expect(hc(['CMD-SHELL', 'curl -f http://x/health || exit 1']).fix).toMatch(/python3 -c/); // suggests a binary the image has
    expect(hc(['CMD', 'python3', '-c', 'print(1)']).status).toBe('pass');
    expect(hc(['CMD', '/bin/python3', '-c', '1']).status).toBe('pass'); // /bin -> usr/bin
    const gone = layer([]);
    gone.whiteouts.push('usr/bin/python3');
    expect(hc(['CMD', 'python3', '-c', '1'], [base, gone]).status).toBe('fail');
    expect(hc(['NONE']).status).toBe('fail');
  });

  it('toolchain: compilers in bin dirs and dpkg status entries, with the layer; a dangling cc alternative is not one', () => {
    const status =
      'Package: gcc-12\nStatus: install ok installed\nVersion: 12.2.0\n\nPackage: make\nStatus: deinstall ok config-files\nVersion: 4.3\n';
    const tools = layer([
      ['usr/bin/gcc-12', 'file', exe],
      ['usr/bin/cc', 'symlink', { link: '/etc/alternatives/cc' }],
      ['var/lib/dpkg/status', 'file', { body: status }],
      ['usr/local/lib/node_modules/npm/node_modules/node-gyp/package.json', 'file'],
    ]);
    const f = facts([base, tools]);
    const r = checkToolchain(f, lm(f));
    expect(r.status).toBe('fail');
    expect(r.evidence.map((e) => `${e.layer} ${e.what}`)).toEqual([
      '2 /usr/bin/gcc-12',
      '2 dpkg package gcc-12 12.2.0 installed (/var/lib/dpkg/status)',
    ]);
    expect(installedPackages('P:gcc\nV:13\n\nP:musl\nV:1\n', 'apk').map((p) => p.name)).toEqual(['gcc', 'musl']);
  });

  it('dev-deps: a devDependency of the app installed in its node_modules', () => {
    const app = layer([
      [
        'app/package.json',
        'file',
        { body: JSON.stringify({ dependencies: { a: '1' }, devDependencies: { vite: '5', jest: '29' } }) },
      ],
      ['app/node_modules/a/package.json'],
      ['app/node_modules/vite/package.json'],
    ]);
    const f = facts([base, app]);
    const r = checkDevDeps(f, lm(f));
    expect(r.status).toBe('fail');
    expect(r.evidence.map((e) => e.what)).toEqual([
      'vite is a devDependency in /app/package.json and installed at /app/node_modules/vite',
    ]);
  });

  it('dockerignore: Docker matching semantics (root-relative, parents, exceptions)', () => {
    const ctx = (dockerignore: string | null, files: string[] = []) =>
      checkDockerignore(facts([base], { context: { dir: '/c', dockerignore, files } }));
    expect(ctx(null, ['.env']).status).toBe('fail');
    expect(ctx('.env\n.git\nnode_modules\nvenv\n').status).toBe('pass');
    expect(ctx('**/.env\n.git/\nnode_modules\nvenv\n').status).toBe('pass');
    const partial = ctx('.git\nnode_modules\n', ['.env', 'sub/.env', 'node_modules']);
    expect(partial.status).toBe('fail');
    expect(partial.evidence.map((e) => e.what)).toEqual([
      'does not exclude .env',
      'does not exclude venv',
      'sub/.env is in the context and not excluded',
    ]);
    expect(ctx('.env\n.git\nnode_modules\nvenv\n', ['sub/.env']).evidence.map((e) => e.what)).toEqual([
      'sub/.env is in the context and not excluded',
    ]); // .env matches the root only
    expect(ctx('*\n!src\n.env\n.git\nnode_modules\nvenv\n', ['secrets/id_rsa']).status).toBe('pass');
    expect(ctx('.env\n!.env\n.git\nnode_modules\nvenv\n').evidence[0].what).toBe('does not exclude .env'); // a later exception wins
  });

  it('compose: limits (deploy or mem_limit/cpus), restart policy, with line numbers; required variables count as set', () => {
    const run = (text: string, vars: Record<string, string> = {}) =>
      checkCompose(facts([base], { compose: { file: '/c/compose.yaml', service: 'api', text, vars } }));
    const [lim, rp] = run('services:\n  api:\n    image: x\n');
    expect(lim.status).toBe('fail');
    expect(lim.evidence[0].file).toBe('/c/compose.yaml:2');
    expect(rp.status).toBe('fail');
    expect(run('services:\n  api:\n    restart: "no"\n    mem_limit: 1g\n    cpus: 1\n').map((r) => r.status)).toEqual([
      'pass',
      'fail',
    ]);
    expect(
      run(
        'services:\n  api:\n    restart: always\n    deploy: { resources: { limits: { memory: 1G, cpus: "0.5" } } }\n',
      ).map((r) => r.status),
    ).toEqual(['pass', 'pass']);
    expect(interpolate('${M:-512m}|$C|${R:?set it}|${E}', { C: '2' })).toBe('512m|2|${R:?set it}|');
    const text =
      'services:\n  api:\n    image: app:${TAG}\n    restart: ${R:?set it}\n    mem_limit: ${M:-512m}\n    cpus: $C\n';
    expect(run(text, { C: '2' }).map((r) => `${r.status} ${r.summary}`)).toEqual([
      'pass memory 512m, cpus 2',
      'pass restart: ${R:?set it}',
    ]);
    expect(run(text, { C: '2', R: 'no' })[1].status).toBe('fail'); // the .env beside it decides
    expect(run('services:\n  web: {}\n')[0].summary).toMatch(/has no service api \(services: web\)/);
  });

  it('history: build args and ENV/LABEL settings', () => {
    expect(historySettings('|2 TOKEN=abc MODE=x /bin/sh -c make')).toEqual([
      { key: 'TOKEN', value: 'abc', kind: 'build arg' },
      { key: 'MODE', value: 'x', kind: 'build arg' },
    ]);
    expect(historySettings('/bin/sh -c #(nop)  ENV A=1 SECRET_KEY=zzz')).toEqual([
      { key: 'A', value: '1', kind: 'ENV' },
      { key: 'SECRET_KEY', value: 'zzz', kind: 'ENV' },
    ]);
  });
});
