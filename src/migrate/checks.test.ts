import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quietAfterStop } from './checks.ts';
import { specSchema } from './spec.ts';

const spec = specSchema.parse({
  app: 'shop',
  ssh: { host: 'h', user: 'ops', key: '/k' },
  owner: 'shop',
  deployDir: '/srv/shop/deploy',
  services: {
    web: { manager: 'systemd', name: 'shop-web', port: 8100, build: { image: 'shop:1' } },
    api: { manager: 'supervisor', name: 'shop-api', port: 8200, build: { image: 'shop:1' } },
    cron: { manager: 'pm2', name: 'shop-cron', ecosystem: '/srv/shop/eco.cjs', build: { image: 'shop:1' } },
  },
  routes: [{ host: 'shop.example.com', service: 'web' }],
});

describe("a stop read back: bare metal proven quiet, not taken on its manager's word", () => {
  const root = mkdtempSync(join(tmpdir(), 'quiet-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  /** Run the read-back with stand-ins: `ss` lists LISTEN for SS_CALLS calls, then nothing; systemd's cgroup holds PROCS. */
  const quiet = (svc: string, o: { listening: number; procs?: string }) => {
    const bin = join(root, `bin-${Math.random().toString(36).slice(2)}`);
    mkdirSync(bin);
    writeFileSync(join(bin, 'count'), '0');
    writeFileSync(
      join(bin, 'ss'),
      `#!/bin/sh
n=$(cat ${bin}/count); echo $((n + 1)) > ${bin}/count
[ "$n" -lt ${o.listening} ] && echo 'LISTEN 0 128 127.0.0.1:8100 0.0.0.0:* users:(("python3",pid=4242,fd=3))'
exit 0
`,
      { mode: 0o755 },
    );
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho /cg-${svc}\n`, { mode: 0o755 });
    const cmd = quietAfterStop(spec, svc)!;
    // the cgroup is looked for under /sys/fs/cgroup: read here from a dir of the test instead
    const argv = [...cmd.argv.map((a) => a.replace('/sys/fs/cgroup$cg', `${bin}/cgroup$cg`)), '1']; // waits 1 s, not 10
    if (o.procs !== undefined) {
      mkdirSync(join(bin, 'cgroup', `cg-${svc}`), { recursive: true });
      writeFileSync(join(bin, 'cgroup', `cg-${svc}`, 'cgroup.procs'), o.procs);
    }
    const r = spawnSync(argv[0], argv.slice(1), { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: 'utf8' });
    return { status: r.status, err: r.stderr.trim() };
  };

  it("passes once the port is closed and the unit's cgroup is empty (a port closing a moment after the stop is waited for)", () => {
    expect(quiet('web', { listening: 0, procs: '' })).toEqual({ status: 0, err: '' });
    expect(quiet('web', { listening: 5, procs: '' }).status).toBe(0);
  });

  it('refuses, naming what still runs and the fix, when something still listens or the unit still holds processes', () => {
    const port = quiet('api', { listening: 1000 });
    expect(port.status).toBe(1);
    expect(port.err).toBe(
      'bare-metal api (supervisor shop-api) was stopped, but something still listens on :8200 ("python3",pid=4242,fd=3): its manager did not stop it (a daemonized child, a second copy); stop it, then --resume',
    );
    const cg = quiet('web', { listening: 0, procs: '4242\n4243\n' });
    expect(cg.status).toBe(1);
    expect(cg.err).toMatch(
      /^bare-metal web \(systemd shop-web\) was stopped, but its unit's cgroup still holds processes \(4242 4243 \): stop them \(systemctl kill shop-web\.service\), then --resume$/,
    );
  });

  it('a service with no port and no unit to read has nothing to read back', () => {
    expect(quietAfterStop(spec, 'cron')).toBeUndefined();
  });
});
