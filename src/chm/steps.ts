import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { remote, remoteString, sudo, type Command } from '../engine/command.ts';
import { operatorName } from '../util/operator.ts';
import { UserError } from '../util/errors.ts';
import { Secret } from '../util/secret.ts';
import { makeDir, writeFile } from '../engine/files.ts';
import { releaseLockCmd, takeLock } from '../engine/lock.ts';
import type { Action, Step } from '../engine/step.ts';
import type { ChmConfig } from './config.ts';
import { DATA_NAMES, VOLUMES, mediahubProbe, type ChmFacts } from './facts.ts';
import { AGENT, KEPT_VOLUMES, LOCK_DIR, hostBackupDir } from './paths.ts';
import { serviceCommands } from './services.ts';
import { composeEnv, composeFile, nginxCheckUrl, nginxConf, nginxTlsMounts, viaNginxPath } from './deploy-files.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(resolve(ROOT, p), 'utf8');

export { AGENT, KEPT_VOLUMES, LOCK_DIR, hostBackupDir };
/** The write freeze, as journal actions: from the bare-metal writer stopped to the backend answering the public. */
export const FREEZE = { start: { step: 'cutover.stop-writer', action: 0 }, end: { step: 'cutover.open', action: 1 } };
const PROJECT = 'chm-chatbot';

type S = Step<ChmConfig, ChmFacts>;
const step = (id: string, title: string, plan: S['plan'], destructive = false): S => ({ id, title, plan, destructive });
const sh = (script: string, ...args: string[]) => sudo(['sh', '-c', script, 'sh', ...args]);

/**
 * A throwaway container with the data volumes (and more) mounted: how data gets in and out of
 * volumes. Named and labelled with the run, so what a lost session left running is found (settle).
 */
function helper(c: ChmConfig, runId: string, tag: string, mounts: string[], script: string, ...args: string[]): Command {
  return sudo(['docker', 'run', '--rm', '--pull', 'never', '--network', 'none', '--user', '0',
    '--name', `cutover-${runId}-${tag}`, '--label', `io.cutover.run=${runId}`, '--label', 'io.cutover.role=helper',
    '-v', `${AGENT}:/agent.py:ro`, ...mounts.flatMap((m) => ['-v', m]), c.helperImage, 'sh', '-c', script, 'sh', ...args]);
}

/** Find and stop what a lost session of this run left running on the host (before a resume or rollback). */
export function settleCommands(runId: string): Command[] {
  return [sudo(['sh', '-c', 'if [ -f "$1" ]; then exec python3 "$1" settle "$2"; fi', 'sh', AGENT, runId])];
}

function composeCmd(c: ChmConfig, f: ChmFacts, ...args: string[]): string[] {
  const file = `${c.deployDir}/compose.yaml`;
  return f.compose === 'v2'
    ? ['docker', 'compose', '-p', PROJECT, '-f', file, '--env-file', `${c.deployDir}/.env`, ...args]
    : ['docker-compose', '-p', PROJECT, '-f', file, '--env-file', `${c.deployDir}/.env`, ...args];
}

/** Wait until a container's healthcheck says healthy (works for Compose v1 and v2 alike). */
function waitHealthy(name: string, seconds = 120): Command {
  return remote(['sh', '-c', `i=0; while [ $i -lt $2 ]; do s=$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null); [ "$s" = healthy ] && exit 0; i=$((i+1)); sleep 1; done; echo "$1 not healthy after $2 s (last: $s); see docker logs $1" >&2; exit 1`, 'sh', name, String(seconds)]);
}

/**
 * Poll URL every 0.2 s until it answers: 2xx with a health path configured, else any answer below
 * 500 (an app without a health endpoint still answers 404 when it is up).
 */
function waitAnswers(url: string, what: string, o: { host?: string; token?: string; strict: boolean; seconds?: number; insecure?: boolean }): Command {
  const seconds = o.seconds ?? 120;
  return remote(['sh', '-c', 'i=0; while [ $i -lt $(($3 * 5)) ]; do c=$(curl -s ${7:+-k} -m 2 -o /dev/null -w "%{http_code}" -H "Host: $1" -H "X-Cutover-Verify: $4" "$2"); if [ "$5" = strict ]; then case $c in 2??) exit 0;; esac; elif [ "$c" != 000 ] && [ "$c" -lt 500 ]; then exit 0; fi; i=$((i+1)); sleep 0.2; done; echo "$6 does not answer at $2 after $3 s (last HTTP status: $c)" >&2; exit 1',
    'sh', o.host ?? '', url, String(seconds), o.token ?? '', o.strict ? 'strict' : 'any', what, o.insecure ? 'insecure' : '']);
}

/** Poll the chatbot backend through nginx until it answers (with a verify token: through the closed gate). */
function waitServing(c: ChmConfig, verifyToken = '', seconds = 120): Command {
  // Without a health path: /api/ (the backend's / with strip, its /api/ with keep), any answer below 500.
  const url = nginxCheckUrl(c, c.chatbot.healthPath ? viaNginxPath(c.chatbot.healthPath, c.chatbot.apiPrefix) : '/api/');
  return waitAnswers(url, 'the chatbot backend (through nginx; see docker logs chatbot-backend)', { host: c.hostnames.chatbot, token: verifyToken, strict: Boolean(c.chatbot.healthPath), seconds, insecure: Boolean(c.nginx.tls) });
}

function httpCheck(c: ChmConfig, host: string, path: string, verifyToken?: string): Action {
  const token = verifyToken ? ['-H', `X-Cutover-Verify: ${verifyToken}`] : [];
  return { cmd: remote(['curl', '-fsS', ...(c.nginx.tls ? ['-k'] : []), '-m', '10', '--retry', '10', '--retry-all-errors', '--retry-delay', '1', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: ${host}`, ...token, nginxCheckUrl(c, path)]) };
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

/** Replace the gate file (by rename: the directory is mounted) and reload nginx. */
function setGate(c: ChmConfig, runId: string, open: boolean): Command {
  return sudo(['sh', '-c', 'set -e; printf "%s" "$1" > "$2.part"; chown "$3" "$2.part"; mv -f "$2.part" "$2"; docker exec nginx-proxy nginx -s reload',
    'sh', gateConf(runId, open), `${c.deployDir}/gate/chatbot.conf`, `${c.chatbot.owner}:${c.chatbot.owner}`]);
}

/** KEY=value lines for the backend's env_file, from the operator's environment; never printed. */
export function secretsEnv(c: ChmConfig): Secret {
  const missing = c.chatbot.secretEnv.filter((k) => process.env[k] === undefined);
  if (missing.length) throw new UserError(`secret ${missing.join(', ')} (chatbot.secretEnv) is not set in this shell: export ${missing[0]}=... before running`);
  return new Secret(c.chatbot.secretEnv.map((k) => `${k}=${process.env[k]}\n`).join(''));
}

export function chmSteps(c: ChmConfig): S[] {
  const dataDir = (n: (typeof DATA_NAMES)[number]) => `${c.chatbot.dir}/${c.chatbot.data[n]}`;
  const owner = c.chatbot.owner;
  const backend = serviceCommands(c.chatbot.backend, owner);
  const frontend = serviceCommands(c.chatbot.frontend, owner);
  const stageChroma = (runId: string) => `${hostBackupDir(runId)}/stage/chroma_db`;
  const uidgid = `${c.containerUid}:${c.containerUid}`;
  const frontendDir = `${c.chatbot.dir}/${c.chatbot.frontendDir}`;
  const backendUrl = `http://127.0.0.1:${c.chatbot.backend.port}${c.chatbot.healthPath ?? '/'}`;
  const pause = c.chatbot.snapshot.pauseWriter ? ['--pause', remoteString(backend.stop), '--resume', remoteString(backend.start)] : [];

  return [
    step('lock', 'take the host lock', ({ runId }) => [takeLock(LOCK_DIR, runId, operatorName())]),

    // ---- backup: never undone, never deleted by a rollback
    step('backup.prepare', 'make the host-side backup dir and upload the agent', ({ runId }) => [
      { cmd: sudo(['mkdir', '-p', `${hostBackupDir(runId)}/stage`]) },
      { cmd: { kind: 'upload', path: AGENT, content: read('src/chm/agent.py'), mode: '755', sudo: true } },
    ]),
    step('backup.snapshot', 'consistent ChromaDB copy (SQLite backup API; index files copied until stable, else a short pause of the writer)', ({ runId }) => [
      { cmd: sudo(['python3', AGENT, 'snapshot', dataDir('chroma'), stageChroma(runId), '--attempts', String(c.chatbot.snapshot.attempts), ...pause]) },
    ]),
    step('backup.stream', 'stream ChromaDB, PDFs and transcripts as tar: one pass to this machine and to a host-side copy; sha256 on both ends; per-file manifest from the same bytes', ({ runId, runDir, facts }) => [
      ...DATA_NAMES.map((n) => ({
        cmd: {
          kind: 'download' as const,
          // one tar pass -> host copy + stdout, hashed as written; renamed only when complete.
          argv: ['python3', AGENT, 'tar-stream', ...(n === 'chroma' ? [stageChroma(runId), `${hostBackupDir(runId)}/${n}.tar`, `${stageChroma(runId)}.live-stat.json`] : [dataDir(n), `${hostBackupDir(runId)}/${n}.tar`])],
          sudo: true, localPath: `${runDir}/${n}.tar`, sha256File: `${hostBackupDir(runId)}/${n}.tar.sha256`, label: `${n}.tar`,
          expectedBytes: facts.dataBytes[n],
        },
      })),
      { cmd: sudo(['python3', AGENT, 'merge-manifest', hostBackupDir(runId), ...DATA_NAMES]) },
      { cmd: { kind: 'download' as const, argv: ['cat', `${hostBackupDir(runId)}/manifest.json`], sudo: true, localPath: `${runDir}/manifest.json`, label: 'manifest.json' } },
      { cmd: { kind: 'download' as const, argv: ['docker', 'exec', c.mediahub.postgres.container, 'pg_dump', '-U', c.mediahub.postgres.user, c.mediahub.postgres.db], localPath: `${runDir}/mediahub.sql`, label: 'mediahub pg_dump' } },
    ]),

    // ---- volumes
    step('volumes.create', 'create the data volumes, labelled with this run', ({ runId }) =>
      DATA_NAMES.map((n) => ({
        cmd: { kind: 'docker' as const, op: 'volumeCreate' as const, name: VOLUMES[n], labels: { 'io.cutover.run': runId, 'io.cutover.data': n } },
        undo: [{ kind: 'docker' as const, op: 'volumeRemoveOwned' as const, name: VOLUMES[n], runId }],
        // Once the containers took writes (cutover.restart on), a rollback keeps the volume instead.
        undoKind: 'destroys-data' as const,
        keep: [keepVolume(VOLUMES[n], runId)],
        creates: [{ type: 'volume' as const, name: VOLUMES[n] }],
      })),
    ),
    step('volumes.restore', 'restore each volume from the host-side archive, verify every file against the manifest', ({ runId }) =>
      DATA_NAMES.map((n) => ({
        cmd: helper(c, runId, `restore-${n}`, [`${VOLUMES[n]}:/dst`, `${hostBackupDir(runId)}:/backup:ro`, `${hostBackupDir(runId)}/restored:/restored`],
          'set -e; find /dst -mindepth 1 -delete; tar -xf "/backup/$1.tar" --warning=no-unknown-keyword -C /dst; chown -R "$2" /dst; python3 /agent.py verify /backup/manifest.json "$1" /dst "/restored/$1.stat.json"', n, uidgid),
      })),
    ),

    // ---- deploy
    step('deploy.upload', 'upload compose, nginx and Dockerfiles (keeping any file they overwrite)', ({ runId }) => [
      { ...makeDir(c.deployDir, runId, `${owner}:${owner}`), undoKind: 'removes-ours' as const },
      ...writeFile(`${c.deployDir}/compose.yaml`, composeFile(read('compose/chatbot.compose.yaml'), c), runId, { owner: `${owner}:${owner}` }),
      ...writeFile(`${c.deployDir}/.env`, composeEnv(c, runId), runId, { owner: `${owner}:${owner}` }),
      ...writeFile(`${c.deployDir}/secrets.env`, secretsEnv(c), runId, { owner: `${owner}:${owner}`, mode: '600' }),
      ...writeFile(`${c.deployDir}/nginx.conf`, nginxConf(read('nginx/nginx.conf'), c), runId, { owner: `${owner}:${owner}` }),
      ...writeFile(`${c.deployDir}/gate/chatbot.conf`, gateConf(runId, false), runId, { owner: `${owner}:${owner}` }),
      ...writeFile(`${c.chatbot.dir}/Dockerfile.backend`, read('compose/Dockerfile.backend'), runId, { owner: `${owner}:${owner}` }),
      ...writeFile(`${c.chatbot.dir}/.dockerignore`, read('compose/backend.dockerignore'), runId, { owner: `${owner}:${owner}` }),
      ...writeFile(`${frontendDir}/Dockerfile`, read('compose/Dockerfile.frontend'), runId, { owner: `${owner}:${owner}` }),
      ...writeFile(`${frontendDir}/.dockerignore`, read('compose/frontend.dockerignore'), runId, { owner: `${owner}:${owner}` }),
    ]),
    step('deploy.build', 'build the chatbot images on the host, offline', ({ runId }) =>
      ([['backend', c.chatbot.dir, 'Dockerfile.backend'], ['frontend', frontendDir, 'Dockerfile']] as const).map(([what, dir, file]) => ({
        cmd: remote(['sh', '-c', 'cd "$1" && DOCKER_BUILDKIT=0 docker build -q --pull=false -f "$2" -t "$3" .', 'sh', dir, file, `chm-chatbot-${what}:${runId}`]),
        undo: [remote(['docker', 'image', 'rm', '-f', `chm-chatbot-${what}:${runId}`], { okCodes: [0, 1] })],
        undoKind: 'removes-ours' as const,
        creates: [{ type: 'image' as const, name: `chm-chatbot-${what}:${runId}` }],
      })),
    ),
    step('deploy.nginx-test', 'nginx -t on the uploaded config', () => [
      { cmd: remote(['docker', 'run', '--rm', '--pull', 'never', '--network', c.mediahub.network, '-v', `${c.deployDir}/nginx.conf:/etc/nginx/nginx.conf:ro`, '-v', `${c.deployDir}/gate:/etc/nginx/gate:ro`, ...nginxTlsMounts(c), 'nginx:alpine', 'nginx', '-t']) },
    ]),
    step('deploy.up', 'start the chatbot project (backend, frontend, nginx); MediaHub is not touched', ({ facts }) => [
      {
        cmd: remote(composeCmd(c, facts, 'up', '-d', ...(facts.compose === 'v2' ? ['--wait', '--no-build'] : []))),
        // the data volumes are external: compose down never removes them
        undo: [remote(composeCmd(c, facts, 'down', '--remove-orphans'), { okCodes: [0, 1, 14] })],
        undoKind: 'removes-ours' as const,
        creates: [{ type: 'container', name: 'chatbot-backend' }, { type: 'container', name: 'chatbot-frontend' }, { type: 'container', name: 'nginx-proxy' }],
      },
      { cmd: waitHealthy('chatbot-backend') },
      { cmd: waitHealthy('chatbot-frontend') },
    ]),

    // ---- verify (read-only)
    step('verify.endpoints', 'through nginx with Host headers: chatbot (through the closed gate, with this run\'s header) and MediaHub', ({ runId }) => [
      httpCheck(c, c.hostnames.chatbot, '/', runId),
      ...(c.chatbot.healthPath ? [httpCheck(c, c.hostnames.chatbot, viaNginxPath(c.chatbot.healthPath, c.chatbot.apiPrefix), runId)] : [{ cmd: waitServing(c, runId, 30) }]),
      ...c.mediahub.checkPaths.map((path) => httpCheck(c, c.hostnames.mediahub, path)),
    ]),
    step('verify.parity', 'the volumes the containers run on still hold exactly the backup (the agent checks every file); MediaHub unchanged', ({ runId, facts }) => [
      {
        cmd: helper(c, runId, 'verify', [...DATA_NAMES.map((n) => `${VOLUMES[n]}:/vol/${n}:ro`), `${hostBackupDir(runId)}:/backup:ro`],
          'set -e; for n in chroma pdfs transcripts; do python3 /agent.py verify /backup/manifest.json $n /vol/$n; done'),
      },
      ...(c.chatbot.statsPath ? [httpCheck(c, c.hostnames.chatbot, viaNginxPath(c.chatbot.statsPath, c.chatbot.apiPrefix), runId)] : []),
      {
        cmd: mediahubProbe(c),
        check: (r) => {
          const now = r.stdout.trim().split('\n').filter(Boolean);
          if (JSON.stringify(now) !== JSON.stringify(facts.mediahub))
            throw new Error(`MediaHub containers changed during the migration (before: ${facts.mediahub.length}, now: ${now.length}): stop and inspect`);
        },
      },
    ]),

    // ---- cutover: the write freeze starts when the writer stops
    step('cutover.stop-writer', 'stop the bare-metal backend (the writer): write freeze starts', () => [
      {
        cmd: backend.stop,
        undo: [backend.start, waitAnswers(backendUrl, 'the bare-metal backend', { strict: Boolean(c.chatbot.healthPath), seconds: 60 })],
      },
    ], true),
    step('cutover.delta', 'move only what changed since the backup into the volumes (fresh SQLite copy)', ({ runId }) => [
      {
        cmd: helper(c, runId, 'delta', [...DATA_NAMES.flatMap((n) => [`${VOLUMES[n]}:/vol/${n}`, `${dataDir(n)}:/live/${n}:ro`]), `${hostBackupDir(runId)}:/backup:ro`],
          'set -e; for n in chroma pdfs transcripts; do python3 /agent.py delta /backup/manifest.json $n /live/$n /vol/$n "$1"; done', uidgid),
      },
    ]),
    {
      ...step('cutover.restart', 'restart the backend container on the final data (the gate stays closed)', ({ runId }) => [
        {
          cmd: remote(['docker', 'restart', 'chatbot-backend']),
          // Way back once the containers may have taken writes: stop the container writer, then copy
          // whatever it changed back to bare metal (keeping the old dirs beside them). Nothing is lost.
          undo: [
            remote(['docker', 'stop', 'chatbot-backend'], { okCodes: [0, 1] }),
            helper(c, runId, 'sync-back', [...DATA_NAMES.map((n) => `${VOLUMES[n]}:/vol/${n}:ro`), `${c.chatbot.dir}:/live`],
              'set -e; r=$1; shift; u=$(stat -c %u:%g /live); for p in "$@"; do n=${p%%=*}; d=${p#*=}; python3 /agent.py sync-back "/vol/$n" "/live/$d" "/live/$d.pre-rollback-$r" "$u"; done',
              runId, ...DATA_NAMES.map((n) => `${n}=${c.chatbot.data[n]}`)),
          ],
        },
        { cmd: waitServing(c, runId) },
      ]),
      // From here the container is the writer: the volumes may hold the only copy of its writes.
      takesWrites: true,
    },
    step('cutover.parity', 'final parity before anyone else can write: volumes hold exactly the bare-metal data', ({ runId }) => [
      {
        cmd: helper(c, runId, 'parity', [...DATA_NAMES.flatMap((n) => [`${VOLUMES[n]}:/vol/${n}:ro`, `${dataDir(n)}:/live/${n}:ro`]), `${hostBackupDir(runId)}:/backup:ro`],
          // the three archives in parallel (this is inside the write freeze); any failure fails the step
          'p=; for n in chroma pdfs transcripts; do python3 /agent.py parity /backup/manifest.json $n /live/$n /vol/$n /backup/restored/$n.stat.json & p="$p $!"; done; r=0; for j in $p; do wait $j || r=1; done; exit $r'),
      },
    ]),
    step('cutover.open', 'open the gate: the containers take the public\'s reads and writes (the write freeze ends)', ({ runId }) => [
      { cmd: setGate(c, runId, true), undo: [setGate(c, runId, false)] },
      { cmd: waitServing(c) },
      ...(c.chatbot.statsPath ? [httpCheck(c, c.hostnames.chatbot, viaNginxPath(c.chatbot.statsPath, c.chatbot.apiPrefix))] : []),
    ], true),
    step('cutover.stop-frontend', 'stop the bare-metal frontend', () => [{ cmd: frontend.stop, undo: [frontend.start] }], true),
    step('cutover.disable', 'keep both bare-metal services from starting at boot', () => [
      { cmd: backend.disable, undo: [backend.enable] },
      { cmd: frontend.disable, undo: [frontend.enable] },
    ], true),

    step('finish', 'release the host lock', ({ runId }) => [{ cmd: releaseLockCmd(LOCK_DIR, runId) }]),
  ];
}

/** Instead of removing a volume that may hold the only copy of writes: record on the host that it was kept, and by which run. */
function keepVolume(name: string, runId: string): Command {
  return sudo(['sh', '-c', 'mkdir -p "$1" && printf "%s\\n" "$2" > "$1/$3"', 'sh', KEPT_VOLUMES, runId, name]);
}
