import { basename, dirname } from 'node:path';
import { remote, remoteString, says, sudo, type Command, type DownloadCommand, type RemoteCommand } from '../engine/command.ts';
import { HOST_STATE, runStateDir } from '../engine/files.ts';
import { nofollow } from '../engine/nofollow.ts';
import { formatBytes } from '../util/bytes.ts';

/**
 * The data operations every migration shares, each taking only the values it needs: the consistent
 * snapshot, the streamed archive, restore and verify, delta, parity, sync-back, the gate, builds. The
 * work itself is the agent's (src/agent/, one zip uploaded per run) or one docker command; no step
 * writes shell. CHM's runbook (src/chm/) and the spec runbook (runbooks/migrate.ts) both plan with these.
 */

/**
 * The host agent, src/agent/ as one zip (src/engine/host-tool.ts) uploaded once per run to the run's own
 * dir: `python3 agentPath(RUN) ARGS`. Every host tool of a migration is one of its subcommands, so a
 * later --rollback of a run executes the very code that run journaled, whatever a newer run uploaded.
 */
export const agentPath = (runId: string) => `${runStateDir(runId)}/agent.pyz`;
/** One file per volume a rollback kept (it may hold writes the containers took), holding the run id. */
export const KEPT_VOLUMES = `${HOST_STATE}/kept-volumes`;
export const hostBackupDir = (runId: string) => `${HOST_STATE}/backups/${runId}`;
/** What a migration's rollback leaves on purpose, in the operator's words (Runbook.leftAfterRollback). */
export const backupKept = (runId: string) => [`kept on purpose: the host-side backup ${hostBackupDir(runId)} (never deleted by a rollback)`];

/** A data set as the volume operations see it: its name in the manifest, its volume, its live dir on the host. */
export interface VolumeSet {
  name: string;
  volume: string;
  live: string;
}

/**
 * A throwaway container with volumes mounted, running the agent: how data gets in and out of
 * volumes. Named and labelled with the run, so what a lost session left running is found (settle).
 */
/** The `docker run` options and image of a helper container NAME of this run (ROLE helper or standby): offline, root, the agent and MOUNTS. */
function helperRunArgs(image: string, runId: string, name: string, role: 'helper' | 'standby', mounts: string[]): string[] {
  return ['--pull', 'never', '--network', 'none', '--user', '0', '--name', name, '--label', `io.cutover.run=${runId}`, '--label', `io.cutover.role=${role}`,
    '-v', `${agentPath(runId)}:/agent.pyz:ro`, ...mounts.flatMap((m) => ['-v', m]), image];
}

export function helper(image: string, runId: string, tag: string, mounts: string[], agentArgs: string[], words: { says: string; reads?: boolean }): RemoteCommand {
  return sudo(['docker', 'run', '--rm', ...helperRunArgs(image, runId, `cutover-${runId}-${tag}`, 'helper', mounts), 'python3', '/agent.pyz', ...agentArgs], words);
}

/** Upload the agent for this run (sudo, mode 755): the zip of src/agent/ (buildHostTool), at the run's own path. */
export function uploadAgent(runId: string, content: Buffer): Command {
  return { kind: 'upload', path: agentPath(runId), content, mode: '755', sudo: true, says: `upload the cutover agent (every host tool of this run) to ${agentPath(runId)}` };
}

export interface SnapshotOptions {
  attempts: number;
  /** Stop and start the writers, for one last pass when the files keep changing (several: one after the other). */
  pause?: { stop: RemoteCommand | RemoteCommand[]; start: RemoteCommand | RemoteCommand[] };
  /** The SQLite databases: named (relative), every file with SQLite's header ('find'), or (unset) ChromaDB's chroma.sqlite3. */
  dbs?: string[] | 'find';
  /** What the copy is of, in the plan's words (default: the live ChromaDB). */
  what?: string;
}

/** A consistent copy of a live dir holding SQLite databases (backup API; other files re-copied until stable; then, if allowed, a short pause of the writers). */
export function snapshot(runId: string, live: string, stage: string, o: SnapshotOptions): RemoteCommand {
  const dbs = o.dbs === 'find' ? ['--find-dbs'] : (o.dbs ?? []).flatMap((d) => ['--db', d]);
  const all = (c: RemoteCommand | RemoteCommand[]) => [c].flat();
  const sh = (c: RemoteCommand | RemoteCommand[]) => all(c).map((x) => remoteString(x)).join(' && ');
  const words = (c: RemoteCommand | RemoteCommand[]) => all(c).map((x) => says(x)).join(', ');
  const pause = o.pause;
  return sudo(['python3', agentPath(runId), 'snapshot', live, stage, ...dbs, '--attempts', String(o.attempts), ...(pause ? ['--pause', sh(pause.stop), '--resume', sh(pause.start)] : [])], {
    says: `copy ${o.what ?? 'the live ChromaDB'} ${live} consistently into ${stage} (up to ${o.attempts} passes${pause ? `; if it keeps changing: ${words(pause.stop)}, one last pass, ${words(pause.start)}` : ', never pausing the writer'})`,
  });
}

/** One tar pass of a data dir: to this machine (hashed as written) and to the host-side copy (hashed), renamed only when both match. */
export function streamArchive(runId: string, runDir: string, name: string, source: string, bytes: number, liveStat?: string): DownloadCommand {
  const hostTar = `${hostBackupDir(runId)}/${name}.tar`;
  return {
    kind: 'download',
    argv: ['python3', agentPath(runId), 'tar-stream', source, hostTar, ...(liveStat ? [liveStat] : [])],
    sudo: true, localPath: `${runDir}/${name}.tar`, sha256File: `${hostTar}.sha256`, label: `${name}.tar`, expectedBytes: bytes,
    says: `archive ${source} (${formatBytes(bytes)} on disk) in one pass to ${name}.tar, here and in the host-side backup; sha256 equal on both ends`,
  };
}

export function mergeManifest(runId: string, names: string[]): RemoteCommand {
  return sudo(['python3', agentPath(runId), 'merge-manifest', hostBackupDir(runId), ...names], { says: `write the per-file manifest (names, sizes, sha256) of the ${names.length} archives on the host` });
}

export function fetchFile(remotePath: string, localPath: string): DownloadCommand {
  return { kind: 'download', argv: ['cat', remotePath], sudo: true, localPath, label: remotePath.split('/').pop(), says: `copy ${remotePath} to ${localPath}` };
}

/**
 * Empty each volume, unpack its host-side archive into it, own it by its container user, verify every
 * file against the manifest: all the data sets at once, in one helper (one process per data set).
 */
export function restoreVolumes(image: string, runId: string, sets: (VolumeSet & { owner: string })[]): RemoteCommand {
  const b = hostBackupDir(runId);
  return helper(image, runId, 'restore', [...sets.map((d) => `${d.volume}:/dst/${d.name}`), `${b}:/backup:ro`, `${b}/restored:/restored`],
    ['restore-all', '/backup/manifest.json', '/restored', ...sets.map((d) => `${d.name}=/dst/${d.name}=${d.owner}`)],
    { says: `restore volumes ${sets.map((d) => `${d.volume} from ${d.name}.tar`).join(', ')} at once (owner ${[...new Set(sets.map((d) => d.owner))].join(', ')}), then check every file against the manifest` });
}

/** Read-only: every file in the volumes equals the manifest. */
export function verifyVolumes(image: string, runId: string, sets: VolumeSet[]): RemoteCommand {
  return helper(image, runId, 'verify', [...sets.map((d) => `${d.volume}:/vol/${d.name}:ro`), `${hostBackupDir(runId)}:/backup:ro`],
    ['verify-all', '/backup/manifest.json', ...sets.map((d) => `${d.name}=/vol/${d.name}`)],
    { says: `check every file in volumes ${sets.map((d) => d.volume).join(', ')} against the backup's manifest`, reads: true });
}

/**
 * The cutover's helper: started before the write freeze with the mounts the delta and the final parity
 * need (the volumes, the live dirs read-only, the host backup read-only), its main process the agent
 * serving a unix socket in a root-only dir of the host's /run (src/agent/standby.py: the agent's imports
 * and the manifest already read). Inside the freeze each command is then `python3 AGENT ask` on the host
 * (about 0.02 s) instead of a `docker exec` of a fresh agent (about 0.15 s) or a `docker run` (0.3 s).
 * Labelled as a standby: a lost session's settle removes it at once (whatever ran in it dies with it),
 * and each command then runs in a throwaway helper with the same mounts, so a resume needs nothing of
 * what the lost session left.
 */
export function cutoverHelper(image: string, runId: string, sets: VolumeSet[]) {
  const name = `cutover-${runId}-cutover`;
  const mounts = [...sets.flatMap((d) => [`${d.volume}:/vol/${d.name}`, `${d.live}:/live/${d.name}:ro`]), `${hostBackupDir(runId)}:/backup:ro`];
  const runArgs = (cname: string, role: 'helper' | 'standby', more: string[] = []) => helperRunArgs(image, runId, cname, role, [...mounts, ...more]);
  const ctl = standbyDir(runId);
  /** The agent serving in the standby if it answers, else in the standby by docker exec, else in a throwaway helper named for TAG. */
  const agent = (tag: string, args: string[], words: { says: string; reads?: boolean }) => {
    const fallback = runArgs(`cutover-${runId}-${tag}`, 'helper');
    return sudo(['sh', '-c', STANDBY_EXEC, 'sh', name, `${ctl}/agent.sock`, agentPath(runId), String(fallback.length), ...fallback, 'python3', '/agent.pyz', ...args], words);
  };
  return {
    name,
    start: sudo(['sh', '-c', 'set -e; umask 077; mkdir -p "${1%/*}" "$1"; shift; exec docker run -d "$@"', 'sh', ctl,
      ...runArgs(name, 'standby', [`${ctl}:/ctl`]), 'python3', '/agent.pyz', 'serve', '/ctl/agent.sock', '/backup/manifest.json'],
      { says: `start the cutover helper ${name} (the agent serving ${ctl}/agent.sock, with the volumes and live dirs mounted: the delta and parity run in it)` }),
    remove: sudo(['sh', '-c', 'docker rm -f "$1"; r=$?; rm -rf "$2"; exit $r', 'sh', name, ctl], { okCodes: [0, 1], says: `remove the cutover helper ${name} and ${ctl}` }),
    /** Copy into the volumes only what changed on bare metal since the backup (each database: its changed blocks, or a fresh copy). */
    delta: (owner: string, only: VolumeSet[] = sets) => agent('delta', ['delta-all', '/backup/manifest.json', owner, ...only.map((d) => `${d.name}=/live/${d.name}=/vol/${d.name}`)],
      { says: `copy what changed since the backup from ${only.map((d) => d.live).join(', ')} into their volumes` }),
    /** Read-only, inside the write freeze: the volumes hold exactly the bare-metal data (the data sets checked in parallel). */
    parity: () => agent('parity', ['parity-all', '/backup/manifest.json', '/backup/restored', ...sets.map((d) => `${d.name}=/live/${d.name}=/vol/${d.name}`)],
      { says: `check that volumes ${sets.map((d) => d.volume).join(', ')} hold exactly the bare-metal data, file by file`, reads: true }),
  };
}

/** The host dir (root's only) of the standby's socket: under /run, so a reboot, which ends the standby, clears it. */
export const standbyDir = (runId: string) => `/run/cutover-standby/${runId}`;

// $1 the standby's name, $2 its socket, $3 the host's agent, $4 how many of the next arguments are the
// throwaway's `docker run` options and image; then the agent's argv (python3 /agent.pyz ARGS). Asked on
// the socket if the standby's agent serves it (75: nobody did, nothing ran); else docker exec in the
// standby if it runs; else a throwaway with the same mounts.
const STANDBY_EXEC = `n=$1; s=$2; a=$3; k=$4; shift 4
(shift $((k + 2)); exec python3 "$a" ask "$s" "$@"); r=$?; [ "$r" -eq 75 ] || exit "$r"
if [ "$(docker inspect -f '{{.State.Running}}' "$n" 2>/dev/null)" = true ]; then shift "$k"; exec docker exec "$n" "$@"; fi
exec docker run --rm "$@"`;

/**
 * Copy whatever the containers wrote back to bare metal; the live dirs as they were are kept beside them
 * (…pre-rollback-RUN). `parent`: one dir holding every live dir (mounted once, as CHM's app dir); else
 * each live dir's parent is mounted on its own.
 */
export function syncBack(image: string, runId: string, sets: VolumeSet[], parent?: string): RemoteCommand {
  const mounts = parent
    ? [`${parent}:/live`]
    : sets.map((d) => `${dirname(d.live)}:/live/${d.name}`);
  const target = (d: VolumeSet) => (parent ? `/live/${d.live.slice(parent.length + 1)}` : `/live/${d.name}/${basename(d.live)}`);
  return helper(image, runId, 'sync-back', [...sets.map((d) => `${d.volume}:/vol/${d.name}:ro`), ...mounts],
    ['sync-back-all', runId, ...sets.map((d) => `/vol/${d.name}=${target(d)}`)],
    { says: `copy what the containers wrote back into ${sets.map((d) => d.live).join(', ')} (each old dir kept as <dir>.pre-rollback-${runId})` });
}

/** Instead of removing a volume that may hold the only copy of writes: record on the host that it was kept, and by which run. */
export function keepVolume(name: string, runId: string): RemoteCommand {
  return sudo(['python3', agentPath(runId), 'keep-volume', KEPT_VOLUMES, name, runId], { says: `keep volume ${name} (recorded in ${KEPT_VOLUMES}/${name})` });
}

/** Find and stop what a lost session of this run left running on the host (before a resume or rollback). */
export function settleCommands(runId: string): Command[] {
  return [sudo(['sh', '-c', 'if [ -f "$1" ]; then exec python3 "$1" settle "$2"; fi', 'sh', agentPath(runId), runId], { says: `stop helper containers and agent processes a lost session of run ${runId} left on the host` })];
}

/**
 * The cutover gate, an nginx include in the app's server blocks. Closed (deploy until cutover): the
 * public gets 503, only requests with this run's X-Cutover-Verify header reach the containers, so no
 * one writes to volumes the final delta will overwrite. Open: a comment.
 */
export function gateConf(runId: string, open: boolean, app = 'chatbot', owns = "the chatbot's data"): string {
  return open
    ? `# cutover gate: OPEN (run ${runId}): the containers own ${owns}\n`
    : `# cutover gate: CLOSED (run ${runId}): bare metal still owns ${owns}\nif ($http_x_cutover_verify != "${runId}") {\n    return 503 "${app}: migration in progress, back in a few minutes\\n";\n}\n`;
}

/** Replace the gate file (by rename, never through a link: the directory may be the app account's, and is mounted) and reload nginx. */
export function setGate(file: string, owner: string, nginxContainer: string, conf: string, open: boolean, whom = 'the chatbot containers'): RemoteCommand {
  const put = nofollow('put', file, '644', owner, String(Buffer.byteLength(conf)));
  return sudo(['sh', '-c', `set -e; c=$1; shift; printf "%s" "$c" | "$@"; docker exec ${nginxContainer} nginx -s reload`, 'sh', conf, ...put],
    { says: open ? `open the gate: nginx sends the public to ${whom} (reload)` : `close the gate: nginx answers the public 503, only this run's checks pass (reload)` });
}

/** Build an image on the host with the legacy builder from context DIR with DOCKERFILE (a path outside it: nothing of ours in the app's dir), never pulling. */
export function buildImage(dir: string, dockerfile: string, tag: string): RemoteCommand {
  return remote(['sh', '-c', 'cd "$1" && DOCKER_BUILDKIT=0 docker build -q --pull=false -f "$2" -t "$3" .', 'sh', dir, dockerfile, tag], { says: `build image ${tag} from ${dir} with ${dockerfile} (base images local, never pulled)` });
}

export function removeImage(tag: string): RemoteCommand {
  return remote(['docker', 'image', 'rm', '-f', tag], { okCodes: [0, 1], says: `remove image ${tag}` });
}

/** `nginx -t` on an uploaded config, in a throwaway nginx container (on `network`, so upstream names mean what they will). */
export function nginxTest(deployDir: string, network: string, extraMounts: string[] = []): RemoteCommand {
  return remote(['docker', 'run', '--rm', '--pull', 'never', '--network', network, '-v', `${deployDir}/nginx.conf:/etc/nginx/nginx.conf:ro`, '-v', `${deployDir}/gate:/etc/nginx/gate:ro`, ...extraMounts, 'nginx:alpine', 'nginx', '-t'],
    { says: `nginx -t on ${deployDir}/nginx.conf (a throwaway nginx:alpine container)`, reads: true });
}

/** Start a stopped container (as it was created: same image, mounts and network). */
export function startContainer(name: string): RemoteCommand {
  return remote(['docker', 'start', name], { says: `start container ${name}` });
}

/** docker stop, read back: done when the container no longer runs (or is gone); one that still runs is an error, never "done". */
const STOP = `out=$(docker stop "$1" 2>&1) || { docker inspect "$1" >/dev/null 2>&1 || exit 0; echo "$out" >&2; }
[ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" != true ] && exit 0
echo "container $1 still runs after docker stop: stop it (docker kill $1), then run again" >&2; exit 1`;

export function stopContainer(name: string): RemoteCommand {
  return remote(['sh', '-c', STOP, 'sh', name], { says: `stop container ${name} (read back: not running)` });
}
