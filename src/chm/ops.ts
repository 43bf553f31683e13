import { remote, remoteString, says, sudo, type Command, type DownloadCommand, type RemoteCommand } from '../engine/command.ts';
import { formatBytes } from '../util/bytes.ts';
import type { ChmConfig } from './config.ts';
import type { DataName } from './facts.ts';
import { AGENT, KEPT_VOLUMES, hostBackupDir } from './paths.ts';
import { nginxTlsMounts } from './deploy-files.ts';
import { nofollow } from '../engine/nofollow.ts';

/**
 * The CHM runbook's host-side operations, each named and described in an operator's words. The
 * work itself is the agent's (src/agent/, uploaded for the run as one zip) or one docker command; no
 * step writes shell.
 */

/**
 * A throwaway container with volumes mounted, running the agent: how data gets in and out of
 * volumes. Named and labelled with the run, so what a lost session left running is found (settle).
 */
function helper(c: ChmConfig, runId: string, tag: string, mounts: string[], agentArgs: string[], words: { says: string; reads?: boolean }): RemoteCommand {
  return sudo(['docker', 'run', '--rm', '--pull', 'never', '--network', 'none', '--user', '0',
    '--name', `cutover-${runId}-${tag}`, '--label', `io.cutover.run=${runId}`, '--label', 'io.cutover.role=helper',
    '-v', `${AGENT}:/agent.pyz:ro`, ...mounts.flatMap((m) => ['-v', m]), c.helperImage, 'python3', '/agent.pyz', ...agentArgs], words);
}

export interface DataSet {
  name: DataName;
  volume: string;
  /** The live dir on the host. */
  live: string;
  /** Its name under chatbot.dir (sync-back writes beside it). */
  rel: string;
}

/** Upload the agent for this run (sudo, mode 755): the zip of src/agent/ (buildHostTool). */
export function uploadAgent(content: Buffer): Command {
  return { kind: 'upload', path: AGENT, content, mode: '755', sudo: true, says: `upload the cutover agent to ${AGENT}` };
}

/** Upload a host tool for this run (sudo, mode 755). */
export function uploadTool(path: string, content: string, what: string): Command {
  return { kind: 'upload', path, content, mode: '755', sudo: true, says: `upload ${what} to ${path}` };
}

/** A consistent copy of the live ChromaDB dir (SQLite backup API; files re-copied until stable; then, if allowed, a short pause of the writer). */
export function snapshot(live: string, stage: string, attempts: number, pause?: { stop: RemoteCommand; start: RemoteCommand }): RemoteCommand {
  return sudo(['python3', AGENT, 'snapshot', live, stage, '--attempts', String(attempts), ...(pause ? ['--pause', remoteString(pause.stop), '--resume', remoteString(pause.start)] : [])], {
    says: `copy the live ChromaDB ${live} consistently into ${stage} (up to ${attempts} passes${pause ? `; if it keeps changing: ${says(pause.stop)}, one last pass, ${says(pause.start)}` : ', never pausing the writer'})`,
  });
}

/** One tar pass of a data dir: to this machine (hashed as written) and to the host-side copy (hashed), renamed only when both match. */
export function streamArchive(runId: string, runDir: string, name: DataName, source: string, bytes: number, liveStat?: string): DownloadCommand {
  const hostTar = `${hostBackupDir(runId)}/${name}.tar`;
  return {
    kind: 'download',
    argv: ['python3', AGENT, 'tar-stream', source, hostTar, ...(liveStat ? [liveStat] : [])],
    sudo: true, localPath: `${runDir}/${name}.tar`, sha256File: `${hostTar}.sha256`, label: `${name}.tar`, expectedBytes: bytes,
    says: `archive ${source} (${formatBytes(bytes)} on disk) in one pass to ${name}.tar, here and in the host-side backup; sha256 equal on both ends`,
  };
}

export function mergeManifest(runId: string, names: DataName[]): RemoteCommand {
  return sudo(['python3', AGENT, 'merge-manifest', hostBackupDir(runId), ...names], { says: `write the per-file manifest (names, sizes, sha256) of the ${names.length} archives on the host` });
}

export function fetchFile(remotePath: string, localPath: string): DownloadCommand {
  return { kind: 'download', argv: ['cat', remotePath], sudo: true, localPath, label: remotePath.split('/').pop(), says: `copy ${remotePath} to ${localPath}` };
}

export function pgDump(c: ChmConfig, localPath: string): DownloadCommand {
  const pg = c.mediahub.postgres;
  return { kind: 'download', argv: ['docker', 'exec', pg.container, 'pg_dump', '-U', pg.user, pg.db], localPath, label: 'mediahub pg_dump', says: `dump MediaHub's database ${pg.db} (container ${pg.container}) to ${localPath}` };
}

/** Empty the volume, unpack the host-side archive into it, own it by the container user, verify every file against the manifest. */
export function restoreVolume(c: ChmConfig, runId: string, d: DataSet, owner: string): RemoteCommand {
  const b = hostBackupDir(runId);
  return helper(c, runId, `restore-${d.name}`, [`${d.volume}:/dst`, `${b}:/backup:ro`, `${b}/restored:/restored`],
    ['restore', `/backup/${d.name}.tar`, '/dst', owner, '/backup/manifest.json', d.name, `/restored/${d.name}.stat.json`],
    { says: `restore volume ${d.volume} from ${d.name}.tar (owner ${owner}), then check every file against the manifest` });
}

/** Read-only: every file in the volumes equals the manifest. */
export function verifyVolumes(c: ChmConfig, runId: string, sets: DataSet[]): RemoteCommand {
  return helper(c, runId, 'verify', [...sets.map((d) => `${d.volume}:/vol/${d.name}:ro`), `${hostBackupDir(runId)}:/backup:ro`],
    ['verify-all', '/backup/manifest.json', ...sets.map((d) => `${d.name}=/vol/${d.name}`)],
    { says: `check every file in volumes ${sets.map((d) => d.volume).join(', ')} against the backup's manifest`, reads: true });
}

/** Copy into the volumes only what changed on bare metal since the backup (a fresh SQLite copy). */
export function deltaIntoVolumes(c: ChmConfig, runId: string, sets: DataSet[], owner: string): RemoteCommand {
  return helper(c, runId, 'delta', [...sets.flatMap((d) => [`${d.volume}:/vol/${d.name}`, `${d.live}:/live/${d.name}:ro`]), `${hostBackupDir(runId)}:/backup:ro`],
    ['delta-all', '/backup/manifest.json', owner, ...sets.map((d) => `${d.name}=/live/${d.name}=/vol/${d.name}`)],
    { says: `copy what changed since the backup from ${sets.map((d) => d.live).join(', ')} into their volumes` });
}

/** Read-only, inside the write freeze: the volumes hold exactly the bare-metal data (the archives checked in parallel). */
export function parity(c: ChmConfig, runId: string, sets: DataSet[]): RemoteCommand {
  return helper(c, runId, 'parity', [...sets.flatMap((d) => [`${d.volume}:/vol/${d.name}:ro`, `${d.live}:/live/${d.name}:ro`]), `${hostBackupDir(runId)}:/backup:ro`],
    ['parity-all', '/backup/manifest.json', '/backup/restored', ...sets.map((d) => `${d.name}=/live/${d.name}=/vol/${d.name}`)],
    { says: `check that volumes ${sets.map((d) => d.volume).join(', ')} hold exactly the bare-metal data, file by file`, reads: true });
}

/** Copy whatever the containers wrote back to bare metal; the live dirs as they were are kept beside them (…pre-rollback-RUN). */
export function syncBack(c: ChmConfig, runId: string, sets: DataSet[]): RemoteCommand {
  return helper(c, runId, 'sync-back', [...sets.map((d) => `${d.volume}:/vol/${d.name}:ro`), `${c.chatbot.dir}:/live`],
    ['sync-back-all', runId, ...sets.map((d) => `/vol/${d.name}=/live/${d.rel}`)],
    { says: `copy what the containers wrote back into ${sets.map((d) => d.live).join(', ')} (each old dir kept as <dir>.pre-rollback-${runId})` });
}

/** Instead of removing a volume that may hold the only copy of writes: record on the host that it was kept, and by which run. */
export function keepVolume(name: string, runId: string): RemoteCommand {
  return sudo(['python3', AGENT, 'keep-volume', KEPT_VOLUMES, name, runId], { says: `keep volume ${name} (recorded in ${KEPT_VOLUMES}/${name})` });
}

/** Find and stop what a lost session of this run left running on the host (before a resume or rollback). */
export function settleCommands(runId: string): Command[] {
  return [sudo(['sh', '-c', 'if [ -f "$1" ]; then exec python3 "$1" settle "$2"; fi', 'sh', AGENT, runId], { says: `stop helper containers and agent processes a lost session of run ${runId} left on the host` })];
}

/**
 * The cutover gate, an nginx include in the chatbot's server block. Closed (deploy until cutover):
 * the public gets 503, only requests with this run's X-Cutover-Verify header reach the containers,
 * so no one writes to volumes the final delta will overwrite. Open: a comment.
 */
export function gateConf(runId: string, open: boolean): string {
  return open
    ? `# cutover gate: OPEN (run ${runId}): the containers own the chatbot's data\n`
    : `# cutover gate: CLOSED (run ${runId}): bare metal still owns the chatbot's data\nif ($http_x_cutover_verify != "${runId}") {\n    return 503 "chatbot: migration in progress, back in a few minutes\\n";\n}\n`;
}

/** Replace the gate file (by rename, never through a link: the directory is the app account's, and mounted) and reload nginx. */
export function setGate(c: ChmConfig, runId: string, open: boolean): RemoteCommand {
  const conf = gateConf(runId, open);
  const put = nofollow('put', `${c.deployDir}/gate/chatbot.conf`, '644', `${c.chatbot.owner}:${c.chatbot.owner}`, String(Buffer.byteLength(conf)));
  return sudo(['sh', '-c', 'set -e; c=$1; shift; printf "%s" "$c" | "$@"; docker exec nginx-proxy nginx -s reload', 'sh', conf, ...put],
    { says: open ? `open the gate: nginx sends the public to the chatbot containers (reload)` : `close the gate: nginx answers the public 503, only this run's checks pass (reload)` });
}

/** Build an image on the host with the legacy builder, never pulling. */
export function buildImage(dir: string, dockerfile: string, tag: string): RemoteCommand {
  return remote(['sh', '-c', 'cd "$1" && DOCKER_BUILDKIT=0 docker build -q --pull=false -f "$2" -t "$3" .', 'sh', dir, dockerfile, tag], { says: `build image ${tag} from ${dir}/${dockerfile}, offline` });
}

export function removeImage(tag: string): RemoteCommand {
  return remote(['docker', 'image', 'rm', '-f', tag], { okCodes: [0, 1], says: `remove image ${tag}` });
}

/** `nginx -t` on the uploaded config, in a throwaway nginx container on MediaHub's network. */
export function nginxTest(c: ChmConfig): RemoteCommand {
  return remote(['docker', 'run', '--rm', '--pull', 'never', '--network', c.mediahub.network, '-v', `${c.deployDir}/nginx.conf:/etc/nginx/nginx.conf:ro`, '-v', `${c.deployDir}/gate:/etc/nginx/gate:ro`, ...nginxTlsMounts(c), 'nginx:alpine', 'nginx', '-t'],
    { says: `nginx -t on ${c.deployDir}/nginx.conf (a throwaway nginx:alpine container)`, reads: true });
}

export function restartContainer(name: string): RemoteCommand {
  return remote(['docker', 'restart', name], { says: `restart container ${name}` });
}

export function stopContainer(name: string): RemoteCommand {
  return remote(['docker', 'stop', name], { okCodes: [0, 1], says: `stop container ${name}` });
}
