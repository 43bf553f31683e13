import { describe, expect, it } from 'vitest';
import type { RemoteCommand } from '../engine/command.ts';
import { gatherSpec } from './facts.ts';
import { specSchema } from './spec.ts';

/** A host that agrees with everything the spec says (each probe answered as a healthy host would), but what a test changes. */
function host(over: (argv: string) => { code: number; stdout: string } | undefined = () => undefined) {
  return async (cmd: RemoteCommand) => {
    const a = cmd.argv.join(' ');
    const o = over(a);
    if (o) return { ...o, stderr: '' };
    if (a.includes('df -B1')) return { code: 0, stdout: '999999999999\n', stderr: '' };
    if (a.startsWith('du ')) return { code: 0, stdout: '4096\t/x\n', stderr: '' };
    if (a.includes('LoadState')) return { code: 0, stdout: 'loaded\n', stderr: '' };
    if (a.startsWith('curl')) return { code: 0, stdout: '200', stderr: '' };
    if (a === 'docker compose version') return { code: 0, stdout: 'Docker Compose version v2.29.0\n', stderr: '' };
    if (a === 'nproc') return { code: 0, stdout: '2\n', stderr: '' };
    if (a.startsWith('docker volume inspect') || a.startsWith('docker inspect'))
      return { code: 1, stdout: '', stderr: 'no such object' };
    if (a.startsWith('ss ')) return { code: 0, stdout: '', stderr: '' };
    return { code: 0, stdout: '', stderr: '' };
  };
}
const spec = (over: Record<string, unknown> = {}) =>
  specSchema.parse({
    app: 'shop',
    ssh: { host: 'h', user: 'ops', key: '/k' },
    owner: 'shop',
    deployDir: '/srv/shop/deploy',
    services: {
      web: {
        manager: 'systemd',
        name: 'shop-web',
        port: 8100,
        check: { http: '/health' },
        build: { image: 'shop:1' },
        secrets: ['SHOP_KEY'],
      },
    },
    data: { files: { path: '/srv/shop/files', kind: 'files', writers: ['web'], mount: '/files' } },
    routes: [{ host: 'shop.example.com', service: 'web' }],
    ...over,
  });

describe('preflight of a migration by spec', () => {
  it('a host that agrees: no problem, the facts it read', async () => {
    process.env.SHOP_KEY = 'k';
    const f = await gatherSpec(host(), spec(), '20261203-000000-abcd', false, '/tmp');
    expect(f.problems).toEqual([]);
    expect(f.facts.dataBytes).toEqual({ files: 4096 });
  });

  it('each assumption that does not hold is one line naming the field or the fix', async () => {
    delete process.env.SHOP_KEY;
    const f = await gatherSpec(
      host((a) =>
        a.startsWith('ss ')
          ? { code: 0, stdout: 'LISTEN 0 511 0.0.0.0:80 users:(("apache2",pid=1,fd=3))' }
          : a.startsWith('docker volume inspect')
            ? { code: 0, stdout: '20261101-000000-zzzz\n' }
            : undefined,
      ),
      spec(),
      '20261203-000000-abcd',
      false,
      '/tmp',
    );
    const lines = f.problems.map((p) => p.message);
    expect(lines.find((l) => l.startsWith('port 80 is taken by apache2'))).toMatch(/stop apache2 or set `nginx\.port`/);
    expect(lines.find((l) => l.includes('shop_files'))).toMatch(
      /already exists and was not made by this run \(made by run 20261101-000000-zzzz\)/,
    );
    expect(lines.find((l) => l.includes('SHOP_KEY'))).toMatch(
      /^`services\.web\.secrets`: SHOP_KEY is not set \(or empty\) in this shell/,
    );
    for (const l of lines) expect(l.split('\n')).toHaveLength(1);
  });

  it("a host PostgreSQL that also serves another app's database is refused before any change, naming it; the spec's own and a copy its rollback kept are not", async () => {
    process.env.SHOP_KEY = 'k';
    const withPg = spec({
      services: {
        web: spec().services.web,
        db: { manager: 'systemd', name: 'postgresql', port: 5432, build: { image: 'postgres:16-alpine' } },
      },
      data: {
        pg: {
          path: '/var/lib/postgresql/15/main',
          kind: 'postgres',
          writers: ['web'],
          mount: '/var/lib/postgresql/data',
          postgres: { db: 'shop', user: 'shop', into: 'db' },
        },
      },
    });
    const cluster = (dbs: string[]) =>
      host((a) => (a.includes('from pg_database') ? { code: 0, stdout: `${dbs.join('\n')}\n` } : undefined));
    const lines = async (dbs: string[]) =>
      (await gatherSpec(cluster(dbs), withPg, '20261203-000000-abcd', false, '/tmp')).problems.map((p) => p.message);
    expect(await lines(['shop', 'shop_pre_rollback_20261101_000000_zzzz'])).toEqual([]);
    const refused = await lines(['billing', 'shop', 'wiki']);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(
      /^`data\.pg\.postgres\.db`: the host's PostgreSQL also serves billing, wiki, which this spec does not name: the cutover stops the whole cluster \(systemd postgresql\)/,
    );
  });

  it('a socket or timer that would start a systemd service again is no refusal: it stops, is kept from boot and comes back with the unit (its family, src/migrate/systemd-units.ts)', async () => {
    process.env.SHOP_KEY = 'k';
    const show: Record<string, string> = {
      'TriggeredBy shop-web.service': 'shop-web.socket shop-web.timer',
      'TriggeredBy prune.timer': '',
      'Triggers prune.timer': 'prune.service',
    };
    const states: Record<string, string> = {
      'shop-web.socket': 'enabled\nactive',
      'shop-web.timer': 'disabled\ninactive',
      'prune.service': 'enabled\ninactive',
    };
    const probe = host((a) => {
      const m = /^systemctl show -p (TriggeredBy|Triggers) --value -- (\S+)$/.exec(a);
      if (m) return { code: 0, stdout: `${show[`${m[1]} ${m[2]}`] ?? ''}\n` };
      const st = /^systemctl is-(enabled|active) -- (\S+)$/.exec(a);
      if (st)
        return {
          code: 0,
          stdout: `${(states[st[2]] ?? 'disabled\ninactive').split('\n')[st[1] === 'enabled' ? 0 : 1]}\n`,
        };
      return undefined;
    });
    const withTimer = spec({
      services: {
        web: spec().services.web,
        prune: { manager: 'systemd', name: 'prune.timer', build: { image: 'shop:1' } },
      },
    });
    const lines = (await gatherSpec(probe, withTimer, '20261203-000000-abcd', false, '/tmp')).problems.map(
      (p) => p.message,
    );
    // (the family's own behaviour, on a real systemd: test/integration/systemd.test.ts)
    expect(lines).toEqual([]);
    // named in the spec, the socket stops and is kept from starting with the service: no line
    const both = spec({
      services: {
        web: spec().services.web,
        sock: { manager: 'systemd', name: 'shop-web.socket', build: { image: 'shop:1' } },
      },
    });
    expect(
      (await gatherSpec(probe, both, '20261203-000000-abcd', false, '/tmp')).problems.map((p) => p.message),
    ).toEqual([]);
  });
});
