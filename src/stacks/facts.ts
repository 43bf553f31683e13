import { remote } from '../engine/command.ts';
import type { Facts, Probe, Problem } from '../engine/runbook.ts';
import type { StackConfig } from './config.ts';
import type { FoundService, StackFacts } from './steps.ts';

/** How the stack is found (read-only, in a dry run too): which compose files its running containers came from, its volumes. */
export async function gatherStack(probe: Probe, c: StackConfig): Promise<Facts<StackFacts>> {
  const problems: Problem[] = [];
  const dir = await probe(remote(['test', '-d', c.stack.dir]));
  if (dir.code !== 0)
    problems.push({
      message: `stack.dir ${c.stack.dir} does not exist on the host: set \`stack.dir\` to the directory that holds the compose files`,
    });
  const v2 = await probe(remote(['docker', 'compose', 'version', '--short']));
  if (v2.code !== 0 || !/^v?2\./.test(v2.stdout.trim()))
    problems.push({
      message: `docker compose v2 is not available on the host (${(v2.stderr || v2.stdout).trim().split('\n').pop() || 'no output'}): install the compose plugin`,
    });
  const format = [
    '{{.ID}}',
    '{{.Label "com.docker.compose.service"}}',
    '{{.State}}',
    '{{.Status}}',
    '{{.Label "com.docker.compose.oneoff"}}',
    '{{.Label "com.docker.compose.project.config_files"}}',
  ].join('\t');
  const project = `label=com.docker.compose.project=${c.stack.project}`;
  const ps = await probe(remote(['docker', 'ps', '-a', '--no-trunc', '--filter', project, '--format', format]));
  const rows = ps.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => l.split('\t'))
    .filter(([, , , , oneoff]) => oneoff !== 'True');
  const services = new Map<string, FoundService>();
  for (const [id, service, state, status] of rows) {
    const s = services.get(service) ?? { service, ids: [], running: false, healthy: true };
    const up = state === 'running' || state === 'restarting' || state === 'paused';
    s.ids.push(id);
    s.running ||= up;
    if (up && /\((unhealthy|health: starting)\)/.test(status)) s.healthy = false;
    services.set(service, s);
  }
  const running = rows.filter(([, , state]) => state === 'running');
  const filesOf = (r: string[][]) => (r.length ? r[0][5].split(',').filter(Boolean) : []);
  const vols = await probe(
    remote(['docker', 'volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${c.stack.project}`]),
  );
  return {
    facts: {
      found: {
        running: running.length > 0,
        files: running.length ? filesOf(running) : filesOf(rows),
        services: [...services.values()].sort((a, b) => a.service.localeCompare(b.service)),
      },
      volumes: vols.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .sort(),
    },
    problems,
  };
}
