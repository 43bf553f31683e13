import { remote, sudo } from '../engine/command.ts';
import { HOST_STATE } from '../engine/files.ts';
import { KEPT_VOLUMES } from './paths.ts';
import type { Facts, Probe, Problem } from '../engine/runbook.ts';
import { formatBytes } from '../util/bytes.ts';
import type { ChmConfig } from './config.ts';
import { mkdirSync, statfsSync } from 'node:fs';
import { resolve } from 'node:path';

export const VOLUMES = { chroma: 'chatbot_chroma', pdfs: 'chatbot_pdfs', transcripts: 'chatbot_transcripts' } as const;
export type DataName = keyof typeof VOLUMES;
export const DATA_NAMES: DataName[] = ['chroma', 'pdfs', 'transcripts'];

export interface ChmFacts {
  compose: 'v2' | 'v1';
  dataBytes: Record<DataName, number>;
  hostFree: number;
  backendHealthy: boolean;
  frontendHealthy: boolean;
  /** MediaHub containers: "name id startedAt", sorted. Must not change during the migration. */
  mediahub: string[];
  port80: string;
  volumes: Record<string, string | null>;
  images: string[];
}

const sh = (script: string, ...args: string[]) => remote(['sh', '-c', script, 'sh', ...args]);

export function mediahubProbe(c: ChmConfig) {
  return sh(
    `docker ps -q --filter "label=com.docker.compose.project=$1" | xargs -r docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}}' | sort`,
    c.mediahub.project,
  );
}

export async function gatherChm(probe: Probe, c: ChmConfig, runId: string, resuming = false, backupsDir = resolve('backups')): Promise<Facts<ChmFacts>> {
  const problems: Problem[] = [];
  const bad = (message: string) => problems.push({ message });
  const dataDir = (n: DataName) => `${c.chatbot.dir}/${c.chatbot.data[n]}`;

  if ((await probe(sudo(['true']))).code !== 0)
    bad(`${c.ssh.user} cannot sudo without a password on the host: add \`${c.ssh.user} ALL=(ALL) NOPASSWD:ALL\` to /etc/sudoers.d/`);
  if ((await probe(remote(['docker', 'info', '-f', '{{.ServerVersion}}']))).code !== 0)
    bad(`the Docker engine is not reachable as ${c.ssh.user}: start dockerd and add ${c.ssh.user} to the docker group`);
  let compose: 'v2' | 'v1' = 'v2';
  if (!/v?2\./.test((await probe(remote(['docker', 'compose', 'version']))).stdout)) {
    if ((await probe(remote(['docker-compose', 'version']))).code === 0) compose = 'v1';
    else bad('Docker Compose is not installed on the host: install the docker-compose-plugin (v2)');
  }

  const dataBytes = { chroma: 0, pdfs: 0, transcripts: 0 } as Record<DataName, number>;
  for (const n of DATA_NAMES) {
    // Disk actually used (a sparse file stays sparse all the way: its holes need no space).
    const r = await probe(sudo(['du', '-s', '--block-size=1', dataDir(n)]));
    if (r.code !== 0) bad(`source dir ${dataDir(n)} is missing on the host: check \`chatbot.dir\` and \`chatbot.data.${n}\``);
    else dataBytes[n] = Number(r.stdout.split(/\s+/)[0]);
  }
  if (!problems.length && (await probe(sudo(['test', '-f', `${dataDir('chroma')}/chroma.sqlite3`]))).code !== 0)
    bad(`${dataDir('chroma')} has no chroma.sqlite3: is \`chatbot.data.chroma\` the ChromaDB persist dir?`);
  const total = Object.values(dataBytes).reduce((a, b) => a + b, 0);

  // Host: a staged ChromaDB copy + the archives + the volumes; local: the archives.
  const dfr = await probe(sh('d=$1; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -B1 --output=avail "$d" | tail -1', HOST_STATE));
  const hostFree = Number(dfr.stdout.trim());
  const hostNeed = 2 * total + dataBytes.chroma + c.diskMargin;
  if (!Number.isFinite(hostFree) || dfr.code !== 0 || !dfr.stdout.trim())
    bad(`cannot read the free disk space under ${HOST_STATE} on the host (df failed: ${dfr.stderr.trim() || 'no output'}): check that df works there`);
  else if (hostFree < hostNeed)
    bad(`not enough disk on the host: ${formatBytes(hostFree)} free under ${HOST_STATE}, the migration needs ${formatBytes(hostNeed)} (copy + archives + volumes + margin): free space or lower \`diskMargin\``);
  mkdirSync(backupsDir, { recursive: true });
  const local = statfsSync(backupsDir);
  const localFree = local.bavail * local.bsize;
  if (localFree < total + c.diskMargin)
    bad(`not enough local disk for the backup: ${formatBytes(localFree)} free in ${backupsDir}, need ${formatBytes(total + c.diskMargin)}: free space first`);

  // With a health path: it must answer 2xx. Without: the service answers HTTP at all (any status).
  const httpStatus = async (port: number, path: string) =>
    (await probe(remote(['curl', '-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}${path}`]))).stdout.trim() || '000';
  const health = async (port: number) => {
    const code = await httpStatus(port, c.chatbot.healthPath ?? '/');
    return c.chatbot.healthPath ? /^2/.test(code) : code !== '000';
  };
  const backendHealthy = await health(c.chatbot.backend.port);
  const frontendHealthy = await health(c.chatbot.frontend.port);
  // Optional app endpoints are probed here (and so in the dry run): a wrong one is refused now, not mid-run.
  if (backendHealthy && c.chatbot.statsPath) {
    const code = await httpStatus(c.chatbot.backend.port, c.chatbot.statsPath);
    if (!/^2/.test(code))
      bad(`\`chatbot.statsPath\` ${c.chatbot.statsPath}: the backend answers HTTP ${code === '000' ? 'nothing' : code} at http://127.0.0.1:${c.chatbot.backend.port}${c.chatbot.statsPath}: fix the path, or remove statsPath (it is an optional extra check)`);
  }

  const mediahub = (await probe(mediahubProbe(c))).stdout.trim().split('\n').filter(Boolean);
  const port80 = (await probe(sudo(['ss', '-ltnpH', `sport = :${c.nginx.port}`]))).stdout.trim();

  const volumes: Record<string, string | null> = {};
  for (const v of Object.values(VOLUMES)) {
    const r = await probe(remote(['docker', 'volume', 'inspect', '-f', '{{index .Labels "io.cutover.run"}}', v]));
    volumes[v] = r.code === 0 ? r.stdout.trim() : null;
  }
  const images: string[] = [];
  for (const i of c.images) if ((await probe(remote(['docker', 'image', 'inspect', '-f', '{{.Id}}', i]))).code === 0) images.push(i);

  // Already migrated? Then say so and change nothing.
  const running = await probe(remote(['docker', 'inspect', '-f', '{{.State.Running}} {{index .Config.Labels "io.cutover.run"}}', 'chatbot-backend']));
  const [isRunning, byRun] = running.stdout.trim().split(' ');
  if (running.code === 0 && isRunning === 'true' && byRun && !backendHealthy && byRun !== runId) {
    return {
      facts: { compose, dataBytes, hostFree, backendHealthy, frontendHealthy, mediahub, port80, volumes, images },
      problems: [],
      alreadyDone: `the chatbot already runs in containers (migrated by run ${byRun}) and bare metal is stopped`,
    };
  }

  // On --resume the run itself may have stopped the backend and taken port 80: checked at its start.
  if (!backendHealthy && !resuming) {
    const where = `:${c.chatbot.backend.port}${c.chatbot.healthPath ?? ''}`;
    const listening = (await httpStatus(c.chatbot.backend.port, '/')) !== '000';
    bad(listening && c.chatbot.healthPath
      ? `\`chatbot.healthPath\` ${c.chatbot.healthPath}: the bare-metal backend answers on :${c.chatbot.backend.port} but not 2xx at ${where}: fix the path, or remove healthPath (optional)`
      : `the bare-metal backend does not answer on ${where}: start it (${c.chatbot.backend.manager} ${c.chatbot.backend.name}) before migrating`);
  }
  if (port80 && !resuming) {
    const who = /users:\(\("([^"]+)"/.exec(port80)?.[1] ?? 'another process';
    bad(`port ${c.nginx.port} is taken by ${who} on the host: nginx needs it; stop ${who} or set \`nginx.port\``);
  }
  for (const [v, owner] of Object.entries(volumes)) {
    if (owner === null || owner === runId) continue;
    const keptBy = owner ? (await probe(sudo(['cat', `${KEPT_VOLUMES}/${v}`]))).stdout.trim() : '';
    if (keptBy)
      bad(`volume ${v} was kept by the rollback of run ${keptBy} (it may hold writes the containers took after that cutover): compare it with bare metal, then remove it yourself (docker volume rm ${v}) before migrating again`);
    else
      bad(`a volume named ${v} already exists and was not made by this run${owner ? ` (made by run ${owner})` : ''}: inspect it (docker volume inspect ${v}); remove or rename it if it is not needed, never by this tool`);
  }
  for (const i of c.images) if (!images.includes(i)) bad(`image ${i} is not on the host: docker pull ${i} (or docker load it) first`);
  for (const message of await deployProblems(probe, c, resuming)) bad(message);

  return { facts: { compose, dataBytes, hostFree, backendHealthy, frontendHealthy, mediahub, port80, volumes, images }, problems };
}

/** Checks one TLS file on the host as root (nginx's master reads it as root): 2 missing, 3 unreadable, 4 not PEM of that kind, 5 expired. */
const TLS_FILE = `[ -f "$1" ] || exit 2
[ -r "$1" ] && head -c 1 "$1" >/dev/null 2>&1 || exit 3
grep -q -- "$2" "$1" || exit 4
if [ "$3" = x509 ] && command -v openssl >/dev/null; then openssl x509 -noout -checkend 0 -in "$1" >/dev/null || exit 5; fi
exit 0`;

/** Preflight of the deploy settings: the TLS files, the TLS port, CPU limits the host can give. */
async function deployProblems(probe: Probe, c: ChmConfig, resuming: boolean): Promise<string[]> {
  const out: string[] = [];
  const tls = c.nginx.tls;
  if (tls) {
    for (const [key, kind, what] of [['cert', '-----BEGIN CERTIFICATE-----', 'a PEM certificate (-----BEGIN CERTIFICATE-----)'], ['key', 'PRIVATE KEY-----', 'a PEM private key (-----BEGIN … PRIVATE KEY-----)']] as const) {
      const path = tls[key];
      const code = (await probe(sudo(['sh', '-c', TLS_FILE, 'sh', path, kind, key === 'cert' ? 'x509' : '']))).code;
      const why = { 2: 'no such file on the host', 3: 'not readable, even by root', 4: `not ${what}`, 5: 'the certificate has expired' }[code as 2 | 3 | 4 | 5];
      if (code !== 0) out.push(`\`nginx.tls.${key}\` ${path}: ${why ?? `cannot be checked (exit ${code})`}: give the ${key === 'cert' ? 'certificate (full chain)' : 'private key'}'s path on the host, or remove nginx.tls to serve http only`);
    }
    const taken = (await probe(sudo(['ss', '-ltnpH', `sport = :${c.nginx.tlsPort}`]))).stdout.trim();
    if (taken && !resuming) {
      const who = /users:\(\("([^"]+)"/.exec(taken)?.[1] ?? 'another process';
      out.push(`port ${c.nginx.tlsPort} is taken by ${who} on the host: nginx needs it for TLS; stop ${who} or set \`nginx.tlsPort\``);
    }
  }
  const cpus = Number((await probe(remote(['nproc']))).stdout.trim());
  if (cpus > 0) {
    for (const svc of ['backend', 'frontend', 'nginx'] as const)
      if (c.deploy[svc].cpus > cpus) out.push(`\`deploy.${svc}.cpus\` ${c.deploy[svc].cpus}: the host has ${cpus} CPU${cpus === 1 ? '' : 's'} and docker refuses a limit above that: lower it`);
  }
  return out;
}

/** What a saved plan depends on: not data sizes or free space, which move all the time. */
export function chmFingerprint(f: ChmFacts): unknown {
  return { compose: f.compose, mediahub: f.mediahub, port80: f.port80, volumes: f.volumes, images: f.images, backend: f.backendHealthy, frontend: f.frontendHealthy };
}
