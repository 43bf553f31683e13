import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile.ts';
import { BUILD_PKG, rootBase, toolchainOf } from './prebuild-toolchain.ts';

const FIXTURES = resolve(import.meta.dirname, '../../test/fixtures/audit');
const fixture = (name: string) => parseDockerfile(`/src/${name}`, readFileSync(resolve(FIXTURES, name), 'utf8'));
const df = (text: string) => parseDockerfile('/src/Dockerfile', text);

describe("toolchain on a Dockerfile alone: ✗ for what the final stage installs; the base's packages need the image", () => {
  it('build-essential and a -dev package installed in the final stage fail at their RUN line', () => {
    const r = toolchainOf(fixture('build-essential.Dockerfile'));
    expect([r.status, r.summary, r.evidence.map((e) => `${e.line} ${e.what}`)]).toEqual([
      'fail',
      'a build toolchain ships in the final image: build-essential, libpq-dev',
      [
        '9 build-essential installed in the final stage, not removed',
        '9 libpq-dev installed in the final stage, not removed',
      ],
    ]);
    expect(r.decided).toEqual({ status: 'fail', what: r.summary, lines: [9] });
    expect(r.needs).toBe('the packages python:3.11-slim carries');
    expect(r.fix).toMatch(/builder stage/);
  });

  it('a compiler only in the builder passes that part; the check stays – for the base image', () => {
    const r = toolchainOf(fixture('python-multistage.Dockerfile')); // gcc, libpq-dev in the builder only
    expect([r.status, r.decided, r.needs]).toEqual([
      'undecided',
      {
        status: 'pass',
        what: 'the final stage installs no compiler, build tool or -dev package (it runs no package install)',
        lines: [],
      },
      'the packages python:3.11-slim carries',
    ]);
    expect(r.summary).toMatch(
      /^needs an image \(the packages python:3\.11-slim carries\): run with --image NAME; Dockerfile ✓/,
    );
    const curl = toolchainOf(fixture('curl-healthcheck.Dockerfile'));
    expect([curl.status, curl.decided?.status, curl.decided?.lines]).toEqual(['undecided', 'pass', [9]]);
  });

  it('the chain counts: a stage the final one is built FROM installs for it; its base is the one to ask about', () => {
    const node = fixture('node-multistage.Dockerfile'); // make, g++ in the build stage, not in the runner's chain
    expect([toolchainOf(node).status, rootBase(node)]).toEqual(['undecided', 'node:20.11-alpine']);
    const chained = df('FROM golang:1.22 AS base\nRUN apt-get install -y make\nFROM base\nCMD ["/app"]\n');
    const r = toolchainOf(chained);
    expect([r.status, r.evidence.map((e) => e.line), r.needs]).toEqual([
      'fail',
      [2],
      'the packages golang:1.22 carries',
    ]);
    expect(toolchainOf(df('FROM scratch\nCOPY app /app\n')).needs).toBe('the files its COPY brings');
  });

  it('compilers, build tools and headers by package name; runtime packages are not toolchains', () => {
    const yes = ['gcc', 'g++-12', 'clang-16', 'make', 'cmake', 'build-essential', 'build-base', 'rustc', 'cargo'];
    const more = ['golang', 'golang-1.21', 'go', 'musl-dev', 'python3-dev', 'openssl-devel', 'linux-headers', 'cc'];
    for (const p of [...yes, ...more]) expect(BUILD_PKG.test(p), p).toBe(true);
    for (const p of ['curl', 'libpq5', 'ca-certificates', 'tini', 'gosu', 'udev', 'python3-venv', 'gccgo-doc'])
      expect(BUILD_PKG.test(p), p).toBe(false);
    const removed = 'FROM a:1\nRUN apt-get install -y build-essential && make && apt-get purge -y build-essential\n';
    expect(toolchainOf(df(removed)).status).toBe('undecided');
  });
});
