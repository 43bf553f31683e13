import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../engine/config.ts';
import { PUBLIC_NOW, publicNow } from './public-now.ts';
import { specSchema } from './spec.ts';

/**
 * The line's logic on this machine, with docker and ss stood in for by scripts that answer as the host would
 * (which containers run, which ports listen); the real host's answer: test/integration/migrate-spec.test.ts.
 */
const dir = mkdtempSync(join(tmpdir(), 'cutover-public-now-'));
const bin = join(dir, 'bin');
spawnSync('mkdir', ['-p', bin]);
writeFileSync(
  join(bin, 'docker'),
  '#!/bin/sh\n# docker inspect -f ... -- NAME\nfor a; do n=$a; done\ncase " $RUNNING " in *" $n "*) echo true ;; *) echo false ;; esac\n',
);
writeFileSync(
  join(bin, 'ss'),
  '#!/bin/sh\nfor a; do p=${a#sport = :}; done\ncase " $LISTEN " in *" $p "*) echo "LISTEN 0 5 127.0.0.1:$p" ;; esac\n',
);
chmodSync(join(bin, 'docker'), 0o755);
chmodSync(join(bin, 'ss'), 0o755);
const gate = join(dir, 'app.conf');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const now = (o: { running: string; listen: string; gate: 'OPEN' | 'CLOSED' }) => {
  writeFileSync(gate, `# cutover gate: ${o.gate} (run x): the containers own sdlab's data\n`);
  const r = spawnSync('sh', ['-c', PUBLIC_NOW, 'sh', 'sdlab-nginx', gate, 'web=sdlab-web=8100'], {
    encoding: 'utf8',
    env: { PATH: `${bin}:/usr/bin:/bin`, RUNNING: o.running, LISTEN: o.listen },
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
};

describe('where the public is served now', () => {
  it('gate closed, bare metal down: nobody serves, said so', () => {
    expect(now({ running: 'sdlab-nginx', listen: '', gate: 'CLOSED' })).toBe(
      'the public now: nginx (sdlab-nginx) answers the public 503 (gate closed); on bare metal nothing listens on web:8100 (the old address serves nothing)',
    );
  });
  it('gate open and the containers up: the containers serve', () => {
    expect(now({ running: 'sdlab-nginx sdlab-web', listen: '', gate: 'OPEN' })).toMatch(
      /^the public now: nginx \(sdlab-nginx\) sends the public to the containers \(gate open\); /,
    );
  });
  it('gate open but a container down: its requests fail; nginx down and bare metal up: the old address serves', () => {
    expect(now({ running: 'sdlab-nginx', listen: '', gate: 'OPEN' })).toMatch(/the containers of web are not running/);
    expect(now({ running: '', listen: '8100', gate: 'OPEN' })).toBe(
      'the public now: nginx (sdlab-nginx) is not running: the new address answers nothing; on bare metal something listens on web:8100 (the old address serves)',
    );
  });
  it("the sdlab spec's command: nginx's container, the gate file under the deploy dir, each routed service", () => {
    const s = loadConfig(resolve(import.meta.dirname, '../../runbooks/specs/sdlab.yaml'), specSchema);
    const c = publicNow(s);
    expect(c.reads).toBe(true);
    expect(c.argv.slice(3)).toEqual(['sh', 'sdlab-nginx', '/srv/sdlab/deploy/gate/app.conf', 'web=sdlab-web=8100']);
  });
});
