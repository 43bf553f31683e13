import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile.ts';
import { healthcheckOf, installedBinary, shellRun } from './prebuild-healthcheck.ts';

const FIXTURES = resolve(import.meta.dirname, '../../test/fixtures/audit');
const fixture = (name: string) => parseDockerfile(`/src/${name}`, readFileSync(resolve(FIXTURES, name), 'utf8'));
const df = (text: string) => parseDockerfile('/src/Dockerfile', text);
const hc = (text: string) => healthcheckOf({ dockerfile: df(text) });

describe('healthcheck on a Dockerfile alone: decided from what the final stage installs, never from the base', () => {
  it('the final stage installs curl (apt-get --no-install-recommends) and the HEALTHCHECK runs curl: ✓', () => {
    const r = healthcheckOf({ dockerfile: fixture('curl-healthcheck.Dockerfile') });
    expect([r.status, r.decided?.lines, r.evidence.map((e) => e.line)]).toEqual(['pass', [16, 9], [16, 9, 9]]);
    expect(r.summary).toBe(
      'HEALTHCHECK at line 16 runs /bin/sh, curl: /bin/sh ran the RUN at line 9; curl installed at line 9 (lines 16, 9)',
    );
    expect(r).not.toHaveProperty('needs');
  });

  it('a binary the final stage does not install stays –, naming what needs the image; the HEALTHCHECK line passes', () => {
    const r = healthcheckOf({ dockerfile: fixture('python-multistage.Dockerfile') });
    expect([r.status, r.needs, r.decided?.status, r.decided?.lines]).toEqual([
      'undecided',
      'does it have python?',
      'pass',
      [19, 14],
    ]);
    expect(r.summary).toMatch(
      /^needs an image \(does it have python\?\): run with --image NAME; Dockerfile ✓ HEALTHCHECK/,
    );
    // curl installed only in a builder stage is not in the final image
    const builder = hc('FROM a:1 AS b\nRUN apt-get install -y curl\nFROM a:1\nRUN true\nHEALTHCHECK CMD curl -f x\n');
    expect([builder.status, builder.needs]).toEqual(['undecided', 'does it have curl?']);
    // exec form: no shell needed; the Node runner's base is not guessed to have node
    const node = healthcheckOf({ dockerfile: fixture('node-multistage.Dockerfile') });
    expect([node.status, node.needs, node.decided?.lines]).toEqual(['undecided', 'does it have node?', [22]]);
  });

  it('apk add wget on Alpine, exec-form curl with exec-form install: ✓; removed after, or a SHELL before: –', () => {
    const apk = hc(
      'FROM alpine:3.19\nRUN apk add --no-cache wget\nHEALTHCHECK CMD wget -qO- http://127.0.0.1/ || exit 1\n',
    );
    expect([apk.status, apk.decided?.lines]).toEqual(['pass', [3, 2]]);
    const exec = hc(
      'FROM debian:12\nRUN ["apt-get", "install", "-y", "curl"]\nHEALTHCHECK CMD ["curl", "-f", "http://x/"]\n',
    );
    expect([exec.status, exec.decided?.lines]).toEqual(['pass', [3, 2]]);
    // the same install, shell-form probe: nothing showed /bin/sh ran
    const noSh = hc('FROM debian:12\nRUN ["apt-get", "install", "-y", "curl"]\nHEALTHCHECK CMD curl -f http://x/\n');
    expect([noSh.status, noSh.needs]).toEqual(['undecided', 'does it have /bin/sh?']);
    const purged = hc(
      'FROM debian:12\nRUN apt-get install -y curl && apt-get purge -y curl\nHEALTHCHECK CMD curl -f http://x/\n',
    );
    expect([purged.status, purged.needs]).toEqual(['undecided', 'does it have curl?']);
    const bash = df('FROM debian:12\nSHELL ["/bin/bash", "-c"]\nRUN apt-get install -y curl\n');
    expect([shellRun(bash), installedBinary(bash, 'curl')?.by.line]).toEqual([undefined, 3]);
    expect(installedBinary(bash, '/usr/bin/curl')?.by.line).toBe(3);
    expect(installedBinary(bash, '/opt/curl/bin/curl')).toBeUndefined();
  });

  it('no HEALTHCHECK, or HEALTHCHECK NONE: ✗ decided by the Dockerfile, at its line', () => {
    const none = healthcheckOf({ dockerfile: fixture('single-stage.Dockerfile') });
    expect([none.status, none.decided?.status, none.decided?.lines, none.evidence.map((e) => e.line)]).toEqual([
      'fail',
      'fail',
      [2],
      [2],
    ]);
    const off = hc('FROM a:1\nRUN apk add curl\nHEALTHCHECK NONE\n');
    expect([off.status, off.decided?.lines]).toEqual(['fail', [3]]);
  });

  it("a compose healthcheck is decided the same way from the final stage's installs", () => {
    const text = 'services:\n  api:\n    healthcheck: { test: [CMD, curl, -f, "http://127.0.0.1/"] }\n';
    const compose = { file: '/src/compose.yaml', service: 'api', text };
    const r = healthcheckOf({ dockerfile: df('FROM debian:12\nRUN apt-get install -y curl\n'), compose });
    expect([r.status, r.decided?.lines]).toEqual(['pass', [2]]);
    expect(r.summary).toMatch(/^the healthcheck in \/src\/compose\.yaml services\.api\.healthcheck runs curl/);
  });
});
