import { hostNginxChanges, hostNginxProbe } from './host-nginx.ts';
import { mkdirSync, statfsSync } from 'node:fs';
import { resolve } from 'node:path';
import { remote, sudo } from '../engine/command.ts';
import { HOST_STATE } from '../engine/files.ts';
import type { Facts, Probe, Problem } from '../engine/runbook.ts';
import { formatBytes } from '../util/bytes.ts';
import { container, fileSets, nginxContainer, routed, volumeName } from './app.ts';
import { KEPT_VOLUMES } from './ops.ts';
import { checkSpecOnHost } from './preflight.ts';
import type { Spec } from './spec.ts';

export interface SpecFacts {
  /** Bytes on disk of each file data set (du: a sparse file's holes need no space). */
  dataBytes: Record<string, number>;
  hostFree: number;
  /** Per neighbour project: "name id startedAt" of its running containers, sorted. Must not change during the migration. */
  neighbours: Record<string, string[]>;
  /** What listens on nginx's ports now (ss), '' when free. */
  ports: string;
  /** Each data volume: null (absent) or the run that made it ('' when not made by cutover). */
  volumes: Record<string, string | null>;
  images: string[];
  /** What the new nginx changes from the host's own nginx for the spec's host names (src/migrate/host-nginx.ts). */
  hostNginx?: string[];
}

const sh = (script: string, ...args: string[]) => remote(['sh', '-c', script, 'sh', ...args], { reads: true });

export function neighbourProbe(project: string) {
  return sh(
    `docker ps -q --filter "label=com.docker.compose.project=$1" | xargs -r docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}}' | sort`,
    project,
  );
}

/** What a migration by spec reads on the host before planning; every assumption the spec makes is checked (checkSpecOnHost). */
export async function gatherSpec(
  probe: Probe,
  s: Spec,
  runId: string,
  resuming = false,
  backupsDir = resolve('backups'),
): Promise<Facts<SpecFacts>> {
  const problems: Problem[] = [];
  const bad = (message: string) => problems.push({ message });
  const empty: SpecFacts = { dataBytes: {}, hostFree: 0, neighbours: {}, ports: '', volumes: {}, images: [] };

  const first = [...routed(s)][0];
  // The facts below, read while the spec is checked (both only read): their problems follow the spec's.
  const gatherRest = async () => {
    const problems: Problem[] = [];
    const bad = (message: string) => problems.push({ message });
    if (!/v?2\./.test((await probe(remote(['docker', 'compose', 'version'], { reads: true }))).stdout))
      bad('Docker Compose v2 is not installed on the host: install the docker-compose-plugin');

    const dataBytes: Record<string, number> = {};
    for (const f of fileSets(s)) {
      const r = await probe(sudo(['du', '-s', '--block-size=1', f.live], { reads: true }));
      dataBytes[f.key] = r.code === 0 ? Number(r.stdout.split(/\s+/)[0]) : 0;
    }
    const total = Object.values(dataBytes).reduce((a, b) => a + b, 0);
    const staged = fileSets(s)
      .filter((f) => f.d.kind !== 'files')
      .reduce((n, f) => n + dataBytes[f.key], 0);
    const dfr = await probe(
      sh('d=$1; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -B1 --output=avail "$d" | tail -1', HOST_STATE),
    );
    const hostFree = Number(dfr.stdout.trim());
    const hostNeed = 2 * total + staged + s.diskMargin;
    if (dfr.code !== 0 || !Number.isFinite(hostFree) || !dfr.stdout.trim())
      bad(
        `cannot read the free disk space under ${HOST_STATE} on the host (df: ${dfr.stderr.trim() || 'no output'}): check that df works there`,
      );
    else if (hostFree < hostNeed)
      bad(
        `not enough disk on the host: ${formatBytes(hostFree)} free under ${HOST_STATE}, the migration needs ${formatBytes(hostNeed)} (copies + archives + volumes + margin): free space or lower \`diskMargin\``,
      );
    mkdirSync(backupsDir, { recursive: true });
    const local = statfsSync(backupsDir);
    if (local.bavail * local.bsize < total + s.diskMargin)
      bad(
        `not enough local disk for the backup: ${formatBytes(local.bavail * local.bsize)} free in ${backupsDir}, need ${formatBytes(total + s.diskMargin)}: free space first`,
      );

    const neighbours: Record<string, string[]> = {};
    for (const n of s.neighbours)
      neighbours[n.project] = (await probe(neighbourProbe(n.project))).stdout.trim().split('\n').filter(Boolean);

    const portList = [s.nginx.port, ...(s.nginx.tls ? [s.nginx.tlsPort] : [])];
    let ports = '';
    for (const p of portList) {
      const taken = (await probe(sudo(['ss', '-ltnpH', `sport = :${p}`], { reads: true }))).stdout.trim();
      ports += taken;
      if (taken && !resuming) {
        const who = /users:\(\("([^"]+)"/.exec(taken)?.[1] ?? 'another process';
        bad(
          `port ${p} is taken by ${who} on the host: nginx needs it; stop ${who} or set \`nginx.${p === s.nginx.port ? 'port' : 'tlsPort'}\``,
        );
      }
    }

    const volumes: Record<string, string | null> = {};
    for (const k of Object.keys(s.data)) {
      const v = volumeName(s, k);
      const r = await probe(
        remote(['docker', 'volume', 'inspect', '-f', '{{index .Labels "io.cutover.run"}}', v], { reads: true }),
      );
      volumes[v] = r.code === 0 ? r.stdout.trim() : null;
    }
    for (const [v, owner] of Object.entries(volumes)) {
      if (owner === null || owner === runId) continue;
      const keptBy = owner ? (await probe(sudo(['cat', `${KEPT_VOLUMES}/${v}`], { reads: true }))).stdout.trim() : '';
      bad(
        keptBy
          ? `volume ${v} was kept by the rollback of run ${keptBy} (it may hold writes the containers took after that cutover): compare it with bare metal, then remove it yourself (docker volume rm ${v}) before migrating again`
          : `a volume named ${v} already exists and was not made by this run${owner ? ` (made by run ${owner})` : ''}: inspect it (docker volume inspect ${v}); remove or rename it if it is not needed, never by this tool`,
      );
    }
    const nginxThere = await probe(
      remote(['docker', 'inspect', '-f', '{{index .Config.Labels "io.cutover.run"}}', nginxContainer(s)], {
        reads: true,
      }),
    );
    if (nginxThere.code === 0 && nginxThere.stdout.trim() !== runId && !resuming)
      bad(
        `a container named ${nginxContainer(s)} already exists (run ${nginxThere.stdout.trim() || "not cutover's"}): remove it or pick another \`app\` name`,
      );

    const images: string[] = [];
    for (const i of s.images)
      if ((await probe(remote(['docker', 'image', 'inspect', '-f', '{{.Id}}', i], { reads: true }))).code === 0)
        images.push(i);
    const cpus = Number((await probe(remote(['nproc'], { reads: true }))).stdout.trim());
    if (cpus > 0)
      for (const [k, svc] of Object.entries(s.services))
        if (svc.limits.cpus > cpus)
          bad(
            `\`services.${k}.limits.cpus\` ${svc.limits.cpus}: the host has ${cpus} CPU${cpus === 1 ? '' : 's'} and docker refuses a limit above that: lower it`,
          );
    for (const [k, svc] of Object.entries(s.services))
      for (const name of svc.secrets)
        if (!process.env[name])
          bad(
            `\`services.${k}.secrets\`: ${name} is not set (or empty) in this shell: export ${name}=... before running (it is read here, never saved)`,
          );
    const hostNginx = hostNginxChanges(s, (await probe(hostNginxProbe())).stdout);
    return { facts: { dataBytes, hostFree, neighbours, ports, volumes, images, hostNginx }, problems };
  };
  // Already migrated by another run, bare metal stopped? Then say so and change nothing.
  const runningProbe = probe(
    remote(
      ['docker', 'inspect', '-f', '{{.State.Running}} {{index .Config.Labels "io.cutover.run"}}', container(s, first)],
      { reads: true },
    ),
  );
  const [running, spec, more] = await Promise.all([
    runningProbe,
    checkSpecOnHost(probe, s, process.cwd(), { skipAnswers: resuming }),
    gatherRest(),
  ]);
  const [isRunning, byRun] = running.stdout.trim().split(' ');
  if (
    running.code === 0 &&
    isRunning === 'true' &&
    byRun &&
    byRun !== runId &&
    !resuming &&
    spec.some((p) => /answers|accepts a connection/.test(p))
  )
    return {
      facts: empty,
      problems: [],
      alreadyDone: `${s.app} already runs in containers (migrated by run ${byRun}) and bare metal is stopped`,
    };
  for (const p of spec) bad(p);
  problems.push(...more.problems);
  return { facts: more.facts, problems };
}

/** What a saved plan depends on: not data sizes or free space, which move all the time. */
export function specFingerprint(f: SpecFacts): unknown {
  return { neighbours: f.neighbours, ports: f.ports, volumes: f.volumes, images: f.images };
}
