import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describe as show } from '../engine/command.ts';
import { specSchema } from './spec.ts';
import { composeFile, nginxConf } from './deploy.ts';
import { specSteps } from './steps.ts';
import type { SpecFacts } from './facts.ts';

/** An app unlike CHM, written here (not the lab's spec): a web app, a worker, a host PostgreSQL, SQLite and uploads. */
const spec = () =>
  specSchema.parse({
    app: 'shop',
    ssh: { host: 'h.example', user: 'ops', key: '/k' },
    owner: 'shop',
    deployDir: '/srv/shop/deploy',
    services: {
      web: {
        manager: 'systemd',
        name: 'shop-web',
        port: 8100,
        check: { http: '/health' },
        build: { dockerfile: 'runbooks/specs/sdlab/web.Dockerfile', context: '/opt/shop' },
        env: { PGHOST: 'db' },
        secrets: ['PGPASSWORD'],
      },
      worker: { manager: 'systemd', name: 'shop-worker', build: { image: 'python:3.11-slim' } },
      db: {
        manager: 'systemd',
        name: 'postgresql',
        port: 5432,
        check: { tcp: true },
        build: { image: 'postgres:16-alpine' },
      },
    },
    data: {
      appdb: { path: '/srv/shop/data', kind: 'sqlite', writers: ['web', 'worker'], mount: '/data' },
      uploads: { path: '/srv/shop/uploads', kind: 'files', writers: ['web'], mount: '/uploads' },
      pg: {
        path: '/var/lib/postgresql/15/main',
        kind: 'postgres',
        writers: ['web'],
        mount: '/var/lib/postgresql/data',
        postgres: { db: 'shop', user: 'shop', into: 'db' },
      },
    },
    routes: [
      { host: 'shop.example.com', prefix: '/', service: 'web' },
      { host: 'shop.example.com', prefix: '/api/', service: 'web', stripPrefix: true },
    ],
    nginx: { bind: '127.0.0.1', port: 8180 },
  });
const facts: SpecFacts = {
  dataBytes: { appdb: 10, uploads: 20 },
  hostFree: 1,
  neighbours: {},
  ports: '',
  volumes: {},
  images: [],
};
const RUN = '20261203-000000-abcd';

function plan() {
  process.env.PGPASSWORD = 'lab-secret-never-printed';
  const s = spec();
  return specSteps(s).map((st) => ({
    id: st.id,
    st,
    actions: st.plan({ config: s, facts, runId: RUN, runDir: '/tmp/x' }),
  }));
}
const lines = (id: string) =>
  plan()
    .find((p) => p.id === id)!
    .actions.map((a) => show(a.cmd));

describe('a migration planned from a spec alone', () => {
  it("has CHM's stages, and a stop for the services that write nothing (the host PostgreSQL) only after the gate opened", () => {
    expect(plan().map((p) => p.id)).toEqual([
      'backup.prepare',
      'backup.snapshot',
      'backup.stream',
      'volumes.create',
      'volumes.restore',
      'deploy.upload',
      'deploy.build',
      'deploy.nginx-test',
      'deploy.up',
      'deploy.postgres',
      'verify.endpoints',
      'verify.parity',
      'cutover.ready',
      'cutover.stop-writer',
      'cutover.delta',
      'cutover.start',
      'cutover.open',
      'cutover.stop-others',
      'cutover.disable',
    ]);
    // readied behind the closed gate: the cutover helper up, the routed writer's container stopped; then the freeze
    expect(lines('cutover.ready')).toEqual([
      expect.stringMatching(
        /^remote \(sudo\): sh -c .*exec docker run -d .* --name cutover-20261203-000000-abcd-cutover .*io\.cutover\.role=standby .* serve \/ctl\/agent\.sock /,
      ),
      expect.stringMatching(/^remote: sh -c .*docker stop .* sh shop-web$/s),
    ]);
    expect(lines('cutover.stop-others')).toEqual([
      // with the timers, sockets and paths that start it, each read back; what it was kept under this run's own state dir
      expect.stringMatching(
        /^remote \(sudo\): sh -c .*systemctl stop -- "\$u".* sh postgresql\.service \/var\/lib\/cutover\/runs\/20261203-000000-abcd\/services\/systemd-postgresql\.units$/s,
      ),
      expect.stringMatching(
        /^remote \(sudo\): sh -c .* sh 5432 'bare-metal db \(systemd postgresql\)' postgresql\.service$/s,
      ),
    ]);
    // every stop is read back: the writers' in the freeze, each after all of them stopped
    expect(lines('cutover.stop-writer')).toEqual([
      expect.stringMatching(
        /^remote \(sudo\): sh -c .* sh shop-web\.service \/var\/lib\/cutover\/runs\/20261203-000000-abcd\/\S+$/s,
      ),
      expect.stringMatching(
        /^remote \(sudo\): sh -c .* sh shop-worker\.service \/var\/lib\/cutover\/runs\/20261203-000000-abcd\/\S+$/s,
      ),
      expect.stringMatching(/^remote \(sudo\): sh -c /),
      expect.stringMatching(/^remote \(sudo\): sh -c /),
    ]);
    expect(plan().find((p) => p.id === 'cutover.open')!.st.takesWrites).toBe(true);
  });

  it('copies the SQLite data set with the backup API, found by header, pausing both its writers only if it keeps changing', () => {
    const [snap, staged, uploads] = lines('backup.snapshot');
    // the uploads stream alongside the snapshot (it does not read it); the snapshot's archive in the same lane, after it
    expect(uploads).toContain('tar-stream /srv/shop/uploads /var/lib/cutover/backups/20261203-000000-abcd/uploads.tar');
    expect(staged).toContain(
      'tar-stream /var/lib/cutover/backups/20261203-000000-abcd/stage/appdb /var/lib/cutover/backups/20261203-000000-abcd/appdb.tar /var/lib/cutover/backups/20261203-000000-abcd/stage/appdb.live-stat.json',
    );
    const snapStep = plan().find((p) => p.id === 'backup.snapshot')!;
    expect(snapStep.actions.map((a) => Boolean(a.alongside))).toEqual([true, true, false]);
    expect(lines('backup.stream').join('\n')).not.toContain('tar-stream');
    expect(snap).toMatch(
      /agent\.pyz snapshot \/srv\/shop\/data \/var\/lib\/cutover\/backups\/20261203-000000-abcd\/stage\/appdb --find-dbs --attempts 5 --pause /,
    );
    expect(snap).toMatch(
      /sh shop-web\.service \/var\/lib\/cutover\/runs\/20261203-000000-abcd\/services\/systemd-shop-web\.units && /,
    );
    expect(snap).not.toContain('/runs/RUN/');
    expect(lines('backup.stream').join('\n')).toContain(
      'agent.pyz pg-data dump shop /var/lib/cutover/backups/20261203-000000-abcd/pg.dump',
    );
  });

  it('starts the worker (no route, no gate) only once the final parity held; the web behind the closed gate at deploy', () => {
    expect(lines('deploy.up')[0]).toMatch(/compose -p shop .* up -d --wait --no-build web db nginx$/);
    expect(lines('cutover.start').join('\n')).toMatch(/docker start shop-web/);
    expect(lines('cutover.start').join('\n')).not.toMatch(/worker|docker restart/);
    // the final parity (files and PostgreSQL) runs alongside the start, in the step's background lane
    const start = plan().find((p) => p.id === 'cutover.start')!.actions;
    expect(
      start
        .filter((a) => a.alongside)
        .map((a) => show(a.cmd))
        .join('\n'),
    ).toMatch(/parity[\s\S]*agent\.pyz pg-data parity shop shop-db shop/);
    expect(start.filter((a) => !a.alongside).map((a) => show(a.cmd))[0]).toMatch(/docker start shop-web/);
    // after the final parity: the worker's first write is the containers' own
    expect(lines('cutover.open').slice(0, 2).join('\n')).toMatch(
      /nginx -s reload[\s\S]*up -d --no-build --no-deps worker/,
    );
  });

  it('every change has a way back; the rollback after the gate opened copies files and the database back, the old ones kept', () => {
    const p = plan();
    for (const id of [
      'volumes.create',
      'deploy.up',
      'deploy.build',
      'cutover.ready',
      'cutover.stop-writer',
      'cutover.start',
      'cutover.open',
      'cutover.stop-others',
      'cutover.disable',
    ])
      expect(
        p.find((x) => x.id === id)!.actions.some((a) => a.undo?.length),
        id,
      ).toBe(true);
    const undo = p
      .find((x) => x.id === 'cutover.open')!
      .actions[0].undo!.map(show)
      .join('\n');
    expect(undo).toMatch(/close the gate|nginx -s reload/);
    expect(undo).toMatch(
      /docker stop[\s\S]*? sh shop-web[\s\S]*docker stop[\s\S]*? sh shop-worker[\s\S]*sync-back-all 20261203-000000-abcd[\s\S]*agent\.pyz pg-data sync-back shop-db shop shop shop_pre_rollback_20261203_000000_abcd/,
    );
    for (const x of p.filter((y) => y.id.startsWith('backup.')))
      for (const a of x.actions) expect(a.undo ?? []).toEqual([]);
  });

  it('never prints a secret: the secrets file is [REDACTED] in the plan', () => {
    const all = JSON.stringify(plan().map((p) => p.actions.map((a) => show(a.cmd))));
    expect(all).not.toContain('lab-secret-never-printed');
    expect(all).toContain('[REDACTED] -> /srv/shop/deploy/secrets-web.env (mode 600)');
  });

  it("renders compose with external volumes at the spec's mounts, and nginx with the gate in each server and the prefix stripped", () => {
    const c = parse(composeFile(spec(), RUN));
    expect(c.name).toBe('shop');
    expect(c.volumes).toEqual({
      shop_appdb: { external: true },
      shop_uploads: { external: true },
      shop_pg: { external: true },
    });
    expect(c.services.web.volumes).toEqual(['shop_appdb:/data', 'shop_uploads:/uploads']);
    expect(c.services.worker.volumes).toEqual(['shop_appdb:/data']);
    expect(c.services.db.volumes).toEqual(['shop_pg:/var/lib/postgresql/data']);
    expect(c.services.web.image).toBe(`shop-web:${RUN}`);
    expect(c.services.web.depends_on).toEqual(['db']);
    expect(c.services.nginx.ports).toEqual(['127.0.0.1:8180:80']);
    const n = nginxConf(spec());
    expect(n.match(/include \/etc\/nginx\/gate\/app\.conf;/g)).toHaveLength(1);
    expect(n).toMatch(
      /location \/api\/ \{\n\s+set \$up_web http:\/\/shop-web:8100;\n\s+rewrite \^\/api\/\(\.\*\)\$ \/\$1 break;/,
    );
    expect(n).toContain('return 444;');
  });
});
