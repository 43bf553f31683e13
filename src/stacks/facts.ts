import { remote } from '../engine/command.ts';
import type { Facts, Probe, Problem } from '../engine/runbook.ts';
import type { StackConfig } from './config.ts';
import type { StackFacts } from './steps.ts';

/** How the stack is found (read-only, in a dry run too): which compose files its running containers came from, its volumes. */
export async function gatherStack(probe: Probe, c: StackConfig): Promise<Facts<StackFacts>> {
  const problems: Problem[] = [];
  const dir = await probe(remote(['test', '-d', c.stack.dir]));
  if (dir.code !== 0) problems.push({ message: `stack.dir ${c.stack.dir} does not exist on the host: set \`stack.dir\` to the directory that holds the compose files` });
  const v2 = await probe(remote(['docker', 'compose', 'version', '--short']));
  if (v2.code !== 0 || !/^v?2\./.test(v2.stdout.trim()))
    problems.push({ message: `docker compose v2 is not available on the host (${(v2.stderr || v2.stdout).trim().split('\n').pop() || 'no output'}): install the compose plugin` });
  const ps = await probe(remote(['docker', 'ps', '--filter', `label=com.docker.compose.project=${c.stack.project}`, '--format', '{{.Label "com.docker.compose.project.config_files"}}']));
  const running = ps.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  const vols = await probe(remote(['docker', 'volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${c.stack.project}`]));
  return {
    facts: {
      found: { running: running.length > 0, files: running.length ? running[0].split(',') : [] },
      volumes: vols.stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort(),
    },
    problems,
  };
}
