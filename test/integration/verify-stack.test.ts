import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ROOT } from '../support/lab.ts';
import { runbook, type RunResult } from '../support/run.ts';

// Fault files live where the lab's ssh user can read them (the lab host is this machine).
const tmp = mkdtempSync('/tmp/cutover-stack-faults-');
chmodSync(tmp, 0o755);
const t0 = new Date();

function config(stack: string, over: Record<string, any> = {}, overrideYaml?: string): string {
  const base = parse(readFileSync(resolve(ROOT, `runbooks/stacks/${stack}.yaml`), 'utf8'));
  const merged = { ...base, ...over, checks: { ...base.checks, ...over.checks } };
  if (overrideYaml) {
    const f = join(
      tmp,
      `${stack}-${Object.keys(over).join('-')}-${Math.random().toString(36).slice(2, 6)}.override.yml`,
    );
    writeFileSync(f, overrideYaml, { mode: 0o644 });
    merged.stack = { ...base.stack, files: [...base.stack.files, f] };
  }
  const p = join(tmp, `${stack}-${Math.random().toString(36).slice(2, 8)}.yaml`);
  writeFileSync(p, stringify(merged).replace(/'(!override)/g, '$1'));
  return p;
}
const verify = (cfg: string, ...args: string[]): RunResult & { summary: any } => {
  const r = runbook('verify-stack', ['--config', cfg, '--yes', '--json', ...args]);
  return { ...r, summary: r.events.find((e) => e.type === 'summary')?.data };
};
const failedIds = (r: { summary: any }) =>
  r.summary.checks.filter((c: any) => c.status === 'fail').map((c: any) => c.id);

/** What "the stack as found" means: each container's service, compose files and health. */
function stackState(project: string): string[] {
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])
    .toString()
    .split('\n')
    .filter(Boolean);
  return ids
    .map((id) =>
      execFileSync('docker', [
        'inspect',
        '-f',
        '{{index .Config.Labels "com.docker.compose.service"}} {{index .Config.Labels "com.docker.compose.project.config_files"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}',
        id,
      ])
        .toString()
        .trim(),
    )
    .sort();
}

/** Our own reading of the stack, by `docker ps -a`: each container's id, service and state. */
const psA = (project: string): string[] =>
  execFileSync('docker', [
    'ps',
    '-a',
    '--no-trunc',
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--format',
    '{{.ID}} {{.Label "com.docker.compose.service"}} {{.State}}',
  ])
    .toString()
    .split('\n')
    .filter(Boolean)
    .sort();
const compose = (stack: string, project: string, files: string[], ...args: string[]) =>
  execFileSync('docker', ['compose', '-p', project, ...files.flatMap((f) => ['-f', f]), ...args], {
    cwd: `/home/ubuntu/stacks/${stack}`,
    stdio: 'pipe',
  });

describe('verify-stack on the lab replicas of seeds 000-002', () => {
  const found: Record<string, string[]> = {};
  beforeAll(() => {
    const d = spawnSync('bash', [resolve(ROOT, 'scripts/lab/stacks/deploy.sh')], { encoding: 'utf8' });
    expect(d.status, `${d.stdout}${d.stderr}`).toBe(0);
    for (const p of ['rhinon', 'dimini', 'ai-whisperers']) found[p] = stackState(p);
    for (const s of Object.values(found)) for (const line of s) expect(line).toMatch(/ running healthy$/);
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
    // anonymous volumes the non-persistent fault made (no compose volume label, created during this file)
    const dangling = execFileSync('docker', ['volume', 'ls', '-q', '--filter', 'dangling=true'])
      .toString()
      .split('\n')
      .filter(Boolean);
    for (const v of dangling) {
      const [created, label] = execFileSync('docker', [
        'volume',
        'inspect',
        '-f',
        '{{.CreatedAt}}|{{index .Labels "com.docker.compose.volume"}}',
        v,
      ])
        .toString()
        .trim()
        .split('|');
      if (!label && /^[0-9a-f]{64}$/.test(v) && new Date(created) > t0) execFileSync('docker', ['volume', 'rm', v]);
    }
  });

  it('passes on all three healthy replicas (dry run changes nothing; the checklist, --json summary and report.md)', () => {
    const dry = runbook('verify-stack', ['--config', 'runbooks/stacks/rhinon.yaml', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/· from inside the containers: rtserver→backendai:8000\/health/);
    for (const [stack, project] of [
      ['rhinon', 'rhinon'],
      ['dimini', 'dimini'],
      ['aiwhisperers', 'ai-whisperers'],
    ]) {
      const r = verify(resolve(ROOT, `runbooks/stacks/${stack}.yaml`));
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.summary.ok).toBe(true);
      expect(r.summary.checks.every((c: any) => c.status === 'pass')).toBe(true);
      const up = r.summary.checks.find((c: any) => c.id === 'stack.up');
      expect(up.detail.seconds[0]).toBeLessThan(60);
      expect(stackState(project)).toEqual(found[project]);
      const run = /finished; report: (\S+)"/.exec(r.stdout)?.[1];
      expect(readFileSync(run!, 'utf8')).toMatch(/\| ✓ \| `check.reach` \|/);
    }
  });

  it('redis on a separate network: only check.reach fails, naming the networks; the stack is put back', () => {
    const r = verify(
      config(
        'rhinon',
        { checks: { restart: false } },
        'services:\n  redis:\n    networks: !override [cache]\nnetworks:\n  cache: {}\n',
      ),
    );
    expect(r.code).toBe(1);
    expect(failedIds(r)).toEqual(['check.reach']);
    expect(r.summary.checks.find((c: any) => c.id === 'check.reach').reason).toMatch(
      /redis is not reachable from \w+ .*share no network/,
    );
    expect(stackState('rhinon')).toEqual(found.rhinon);
  });

  it('a host port already taken: check.ports fails naming the holder, nothing is changed', async () => {
    const server: Server = createServer().listen(5499, '127.0.0.1');
    await new Promise((res) => server.once('listening', res));
    try {
      const r = verify(config('dimini', {}, 'services:\n  postgres:\n    ports: !override ["127.0.0.1:5499:5432"]\n'));
      expect(r.code).toBe(1);
      expect(failedIds(r)).toEqual(['check.ports']);
      expect(r.summary.checks.find((c: any) => c.id === 'check.ports').reason).toMatch(
        /127\.0\.0\.1:5499 \(postgres\) is already held by \S+ \(pid \d+\)/,
      );
      expect(r.summary.checks.filter((c: any) => c.status === 'not-run').map((c: any) => c.id)).toContain('stack.up');
    } finally {
      server.close();
    }
    expect(stackState('dimini')).toEqual(found.dimini);
  });

  it('a service without a healthcheck: only check.healthy fails', () => {
    const r = verify(
      config(
        'dimini',
        { checks: { restart: false, persist: [] } },
        'services:\n  frontend:\n    healthcheck:\n      disable: true\n',
      ),
    );
    expect(r.code).toBe(1);
    expect(failedIds(r)).toEqual(['check.healthy']);
    expect(r.summary.checks.find((c: any) => c.id === 'check.healthy').reason).toMatch(/^frontend has no healthcheck/);
    expect(stackState('dimini')).toEqual(found.dimini);
  });

  it('a service that crashes on restart: stack.restart fails with its last log line, the rollback puts the stack back', () => {
    const crash = `services:\n  backendai:\n    command: ["sh", "-c", "if [ -e /tmp/started ]; then echo 'backendai: crashed on restart' >&2; exit 1; fi; touch /tmp/started; exec uvicorn main:app --host 0.0.0.0 --port 8000"]\n`;
    const r = verify(config('rhinon', { deadlineSeconds: 12 }, crash));
    expect(r.code).toBe(1);
    expect(failedIds(r)).toEqual(['stack.restart']);
    expect(r.summary.checks.find((c: any) => c.id === 'stack.restart').reason).toMatch(
      /not every service is up 12 s after compose restart: backendai (is restarting|is exited|keeps crashing).*last log line: backendai: crashed on restart/,
    );
    expect(stackState('rhinon')).toEqual(found.rhinon);
  });

  it('a volume that is not persistent (anonymous): only stack.persist fails, naming the mount; the data on the named volume is back', () => {
    const r = verify(
      config(
        'dimini',
        { checks: { restart: false } },
        'services:\n  postgres:\n    volumes: !override ["/var/lib/postgresql/data"]\n',
      ),
    );
    expect(r.code).toBe(1);
    expect(failedIds(r)).toEqual(['stack.persist']);
    // up carried the named volume over into the recreated container: the anonymous one appears only after down + up
    expect(r.summary.checks.find((c: any) => c.id === 'stack.persist').reason).toMatch(
      /gone after `up`: \/var\/lib\/postgresql\/data is an anonymous volume/,
    );
    expect(stackState('dimini')).toEqual(found.dimini);
  });

  it('a stopped stack is verified and left stopped: the same containers, each stopped again', () => {
    compose('rhinon', 'rhinon', ['docker-compose.yml'], 'stop', '-t', '3');
    const before = psA('rhinon');
    expect(before.length).toBe(3);
    for (const line of before) expect(line).toMatch(/ exited$/);
    const r = verify(resolve(ROOT, 'runbooks/stacks/rhinon.yaml'));
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.summary.ok).toBe(true);
    expect(psA('rhinon')).toEqual(before);
  });

  it('a partly-up stack is left partly up: the same containers up, the same one stopped', () => {
    compose('rhinon', 'rhinon', ['docker-compose.yml'], 'up', '-d', '--wait', '--no-build');
    compose('rhinon', 'rhinon', ['docker-compose.yml'], 'stop', '-t', '3', 'rtserver');
    const before = psA('rhinon');
    expect(before.filter((l) => l.endsWith(' running')).length).toBe(2);
    expect(before.filter((l) => / rtserver exited$/.test(l)).length).toBe(1);
    const r = verify(resolve(ROOT, 'runbooks/stacks/rhinon.yaml'));
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(psA('rhinon')).toEqual(before);
    compose('rhinon', 'rhinon', ['docker-compose.yml'], 'up', '-d', '--wait', '--no-build'); // as the next tests expect
  });

  it(
    'data on an anonymous volume: the persistence check refuses the down + up, naming the volume and the mount; ' +
      'the same container keeps the same volume, data readable',
    () => {
      const anon = 'services:\n  postgres:\n    volumes: !override ["/var/lib/postgresql/data"]\n';
      const cfg = config('dimini', { checks: { restart: false } }, anon);
      const files = parse(readFileSync(cfg, 'utf8')).stack.files as string[];
      try {
        // -V: a new anonymous volume, not the named one carried over from the container it replaces
        compose('dimini', 'dimini', files, 'up', '-d', '--wait', '--no-build', '-V');
        const psql = (sql: string) =>
          execFileSync(
            'docker',
            [
              'exec',
              '-i',
              'dimini_postgres_local',
              'psql',
              '-X',
              '-qAt',
              '-v',
              'ON_ERROR_STOP=1',
              '-U',
              'dimini_user',
              '-d',
              'dimini_db',
            ],
            { input: sql, encoding: 'utf8' },
          ).trim();
        psql("CREATE TABLE anon_probe (v text); INSERT INTO anon_probe VALUES ('only on the anonymous volume');");
        const fmt = '{{.Id}} {{range .Mounts}}{{.Name}} {{.Destination}}{{end}}';
        const mount = () => execFileSync('docker', ['inspect', '-f', fmt, 'dimini_postgres_local']).toString().trim();
        const was = mount();
        expect(was).toMatch(/^[0-9a-f]{64} [0-9a-f]{64} \/var\/lib\/postgresql\/data$/);
        const before = psA('dimini');
        const r = verify(cfg);
        expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
        expect(failedIds(r)).toEqual(['stack.persist']);
        const persist = r.summary.checks.find((c: any) => c.id === 'stack.persist');
        expect(persist.reason).toBe(
          `postgres (dimini_postgres_local) has anonymous volume ${was.split(' ')[1]}` +
            ' at /var/lib/postgresql/data: docker compose down + up would leave its data detached' +
            ' (up makes a new, empty one); the persistence check did not run down',
        );
        expect(persist.fix).toMatch(/^name the volume in compose/);
        expect(mount()).toBe(was);
        expect(psA('dimini')).toEqual(before);
        expect(psql('SELECT v FROM anon_probe;')).toBe('only on the anonymous volume');
      } finally {
        // dimini back on its named volume, as the other tests expect it (the anonymous one is removed in afterAll)
        const d = spawnSync('bash', [resolve(ROOT, 'scripts/lab/stacks/deploy.sh'), 'dimini'], { encoding: 'utf8' });
        expect(d.status, `${d.stdout}${d.stderr}`).toBe(0);
      }
    },
  );

  it('--fail-at rolls back a step that changed the stack, and --rollback later finds nothing left', () => {
    const r = verify(resolve(ROOT, 'runbooks/stacks/rhinon.yaml'), '--fail-at', 'stack.restart');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failure injected by --fail-at stack.restart; rolled back/);
    expect(stackState('rhinon')).toEqual(found.rhinon);
  });
});
