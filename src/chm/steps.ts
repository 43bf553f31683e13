import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { remote, remoteString, sudo, type RemoteCommand } from '../engine/command.ts';
import { UserError } from '../util/errors.ts';
import { Secret } from '../util/secret.ts';
import { dotenvLine } from '../util/dotenv.ts';
import { formatBytes } from '../util/bytes.ts';
import { makeDir, writeFile } from '../engine/files.ts';
import { buildHostTool } from '../engine/host-tool.ts';
import type { Action, Step } from '../engine/step.ts';
import type { ChmConfig } from './config.ts';
import { DATA_NAMES, VOLUMES, mediahubProbe, type ChmFacts } from './facts.ts';
import { AGENT, KEPT_VOLUMES, hostBackupDir } from './paths.ts';
import { SUPERVISOR_TOOL, serviceCommands } from '../migrate/services.ts';
import { composeEnv, composeFile, nginxCheckUrl, nginxConf, viaNginxPath } from './deploy-files.ts';
import { httpCheck, waitAnswers, waitHealthy } from '../engine/waits.ts';
import { cutoverHelper, nginxTest, pgDump, restoreVolumes, setGate, syncBack, verifyVolumes, type DataSet } from './ops.ts';
import {
  buildImage, fetchFile, gateConf, keepVolume, mergeManifest, removeImage, settleCommands, snapshot, startContainer, stopContainer, streamArchive,
  uploadAgent, uploadTool,
} from '../migrate/ops.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(resolve(ROOT, p), 'utf8');

export { AGENT, KEPT_VOLUMES, hostBackupDir, gateConf, settleCommands };
/** The write freeze, as journal actions: from the bare-metal writer stopped to the backend answering the public. */
export const FREEZE = { start: { step: 'cutover.stop-writer', action: 0 }, end: { step: 'cutover.open', action: 1 } };
const PROJECT = 'chm-chatbot';

type S = Step<ChmConfig, ChmFacts>;
const step = (id: string, title: string, plan: S['plan'], destructive = false): S => ({ id, title, plan, destructive });


function composeCmd(c: ChmConfig, f: ChmFacts, ...args: string[]): string[] {
  const file = `${c.deployDir}/compose.yaml`;
  return f.compose === 'v2'
    ? ['docker', 'compose', '-p', PROJECT, '-f', file, '--env-file', `${c.deployDir}/.env`, ...args]
    : ['docker-compose', '-p', PROJECT, '-f', file, '--env-file', `${c.deployDir}/.env`, ...args];
}

/** Poll the chatbot backend through nginx until it answers (with a verify token: through the closed gate). */
function waitServing(c: ChmConfig, verifyToken = '', seconds = 120): RemoteCommand {
  // Without a health path: /api/ (the backend's / with strip, its /api/ with keep), any answer below 500.
  const url = nginxCheckUrl(c, c.chatbot.healthPath ? viaNginxPath(c.chatbot.healthPath, c.chatbot.apiPrefix) : '/api/');
  return waitAnswers(url, 'the chatbot backend (through nginx; see docker logs chatbot-backend)', { host: c.hostnames.chatbot, token: verifyToken, strict: Boolean(c.chatbot.healthPath), seconds, insecure: Boolean(c.nginx.tls) });
}

function httpCheckVia(c: ChmConfig, host: string, path: string, verifyToken?: string): Action {
  return { cmd: httpCheck(nginxCheckUrl(c, path), { host, token: verifyToken, insecure: Boolean(c.nginx.tls) }) };
}

/** KEY=value lines for the backend's env_file, from the operator's environment; never printed. */
export function secretsEnv(c: ChmConfig): Secret {
  const missing = c.chatbot.secretEnv.filter((k) => process.env[k] === undefined);
  if (missing.length) throw new UserError(`secret ${missing.join(', ')} (chatbot.secretEnv) is not set in this shell: export ${missing[0]}=... before running`);
  return new Secret(c.chatbot.secretEnv.map((k) => dotenvLine(k, process.env[k]!)).join(''));
}

export function chmSteps(c: ChmConfig): S[] {
  const dataDir = (n: (typeof DATA_NAMES)[number]) => `${c.chatbot.dir}/${c.chatbot.data[n]}`;
  const sets: DataSet[] = DATA_NAMES.map((name) => ({ name, volume: VOLUMES[name], live: dataDir(name), rel: c.chatbot.data[name] }));
  const owner = c.chatbot.owner;
  const backend = serviceCommands(c.chatbot.backend, owner);
  const frontend = serviceCommands(c.chatbot.frontend, owner);
  const boot = (runId: string) => [serviceCommands(c.chatbot.backend, owner, runId), serviceCommands(c.chatbot.frontend, owner, runId)];
  const stageChroma = (runId: string) => `${hostBackupDir(runId)}/stage/chroma_db`;
  const uidgid = `${c.containerUid}:${c.containerUid}`;
  const frontendDir = `${c.chatbot.dir}/${c.chatbot.frontendDir}`;
  const backendUrl = `http://127.0.0.1:${c.chatbot.backend.port}${c.chatbot.healthPath ?? '/'}`;
  const pause = c.chatbot.snapshot.pauseWriter ? { stop: backend.stop, start: backend.start } : undefined;
  const ours = `${owner}:${owner}`;
  /** The cutover's standby helper (src/migrate/ops.ts): the delta and the final parity run in it. */
  const helperOf = (runId: string) => cutoverHelper(c, runId, sets);

  return [
    // ---- backup: never undone, never deleted by a rollback
    step('backup.prepare', 'make the host-side backup dir and upload the agent', ({ runId }) => [
      { cmd: uploadTool(SUPERVISOR_TOOL, read('src/migrate/supervisor_boot.py'), 'the supervisord program editor'), alongside: true },
      { cmd: sudo(['mkdir', '-p', `${hostBackupDir(runId)}/stage`], { says: `make the host-side backup dir ${hostBackupDir(runId)} (kept after the run)` }) },
      { cmd: uploadAgent(buildHostTool(resolve(ROOT, 'src/agent')).bundle) },
    ]),
    // The snapshot, then its archive's stream, run alongside the streams that do not read it: all the archives
    // share the link at once, so the backup keeps pace with it (one stream's start and end overlap another's bytes).
    step('backup.snapshot', 'consistent ChromaDB copy (SQLite backup API; index files copied until stable, else a short pause of the writer), streamed as tar as soon as it is made, while the PDFs and transcripts stream: one pass to this machine and to a host-side copy; sha256 on both ends; MediaHub dumped meanwhile', ({ runId, runDir, facts }) => [
      { cmd: snapshot(dataDir('chroma'), stageChroma(runId), { attempts: c.chatbot.snapshot.attempts, pause }), alongside: true },
      { cmd: streamArchive(runId, runDir, 'chroma', stageChroma(runId), facts.dataBytes.chroma, `${stageChroma(runId)}.live-stat.json`), alongside: true },
      { cmd: pgDump(c, `${runDir}/mediahub.sql`), alongside: true },
      ...sets.filter((d) => d.name !== 'chroma').map((d) => ({ cmd: streamArchive(runId, runDir, d.name, d.live, facts.dataBytes[d.name]) })),
    ]),
    step('backup.stream', 'finish the archives: the per-file manifest of every one (from the bytes streamed), fetched here', ({ runId, runDir }) => [
      { cmd: mergeManifest(runId, DATA_NAMES) },
      { cmd: fetchFile(`${hostBackupDir(runId)}/manifest.json`, `${runDir}/manifest.json`) },
    ]),

    // ---- volumes
    step('volumes.create', 'create the data volumes, labelled with this run', ({ runId }) =>
      sets.map((d) => ({
        cmd: { kind: 'docker' as const, op: 'volumeCreate' as const, name: d.volume, labels: { 'io.cutover.run': runId, 'io.cutover.data': d.name } },
        undo: [{ kind: 'docker' as const, op: 'volumeRemoveOwned' as const, name: d.volume, runId }],
        // Once the containers took writes (cutover.open on), a rollback keeps the volume instead.
        undoKind: 'destroys-data' as const,
        keep: [keepVolume(d.volume, runId)],
        creates: [{ type: 'volume' as const, name: d.volume }],
      })),
    ),
    step('volumes.restore', 'restore every volume from its host-side archive at once, verify every file against the manifest', ({ runId }) => [
      { cmd: restoreVolumes(c, runId, sets, uidgid), undoneBy: `removing volumes ${sets.map((d) => d.volume).join(', ')} (volumes.create)` },
    ]),

    // ---- deploy
    step('deploy.upload', 'upload compose, nginx and Dockerfiles (keeping any file they overwrite)', ({ runId }) => [
      { ...makeDir(c.deployDir, runId, ours), undoKind: 'removes-ours' as const },
      ...writeFile(`${c.deployDir}/compose.yaml`, composeFile(read('compose/chatbot.compose.yaml'), c), runId, { owner: ours }),
      ...writeFile(`${c.deployDir}/.env`, composeEnv(c, runId), runId, { owner: ours }),
      ...writeFile(`${c.deployDir}/secrets.env`, secretsEnv(c), runId, { owner: ours, mode: '600' }),
      ...writeFile(`${c.deployDir}/nginx.conf`, nginxConf(read('nginx/nginx.conf'), c), runId, { owner: ours }),
      ...writeFile(`${c.deployDir}/gate/chatbot.conf`, gateConf(runId, false), runId, { owner: ours }),
      ...writeFile(`${c.chatbot.dir}/Dockerfile.backend`, read('compose/Dockerfile.backend'), runId, { owner: ours }),
      ...writeFile(`${c.chatbot.dir}/.dockerignore`, read('compose/backend.dockerignore'), runId, { owner: ours }),
      ...writeFile(`${frontendDir}/Dockerfile`, read('compose/Dockerfile.frontend'), runId, { owner: ours }),
      ...writeFile(`${frontendDir}/.dockerignore`, read('compose/frontend.dockerignore'), runId, { owner: ours }),
    ]),
    step('deploy.build', 'build the chatbot images on the host, offline', ({ runId }) =>
      ([['backend', c.chatbot.dir, 'Dockerfile.backend'], ['frontend', frontendDir, 'Dockerfile']] as const).map(([what, dir, file]) => ({
        cmd: buildImage(dir, file, `chm-chatbot-${what}:${runId}`),
        undo: [removeImage(`chm-chatbot-${what}:${runId}`)],
        undoKind: 'removes-ours' as const,
        creates: [{ type: 'image' as const, name: `chm-chatbot-${what}:${runId}` }],
      })),
    ),
    step('deploy.nginx-test', 'nginx -t on the uploaded config', () => [{ cmd: nginxTest(c) }]),
    step('deploy.up', 'start the chatbot project (backend, frontend, nginx); MediaHub is not touched', ({ facts }) => [
      {
        cmd: remote(composeCmd(c, facts, 'up', '-d', ...(facts.compose === 'v2' ? ['--wait', '--no-build'] : [])), { says: `start compose project ${PROJECT} (${c.deployDir}/compose.yaml): chatbot-backend, chatbot-frontend, nginx-proxy` }),
        // the data volumes are external: compose down never removes them
        undo: [remote(composeCmd(c, facts, 'down', '--remove-orphans'), { okCodes: [0, 1, 14], says: `stop and remove compose project ${PROJECT}'s containers (its data volumes are external: never removed by compose)` })],
        undoKind: 'removes-ours' as const,
        creates: [{ type: 'container', name: 'chatbot-backend' }, { type: 'container', name: 'chatbot-frontend' }, { type: 'container', name: 'nginx-proxy' }],
      },
      { cmd: waitHealthy('chatbot-backend') },
      { cmd: waitHealthy('chatbot-frontend') },
    ]),

    // ---- verify (read-only)
    step('verify.endpoints', 'through nginx with Host headers: chatbot (through the closed gate, with this run\'s header) and MediaHub', ({ runId }) => [
      httpCheckVia(c, c.hostnames.chatbot, '/', runId),
      ...(c.chatbot.healthPath ? [httpCheckVia(c, c.hostnames.chatbot, viaNginxPath(c.chatbot.healthPath, c.chatbot.apiPrefix), runId)] : [{ cmd: waitServing(c, runId, 30) }]),
      ...c.mediahub.checkPaths.map((path) => httpCheckVia(c, c.hostnames.mediahub, path)),
    ]),
    step('verify.parity', 'the volumes the containers run on still hold exactly the backup (the agent checks every file); MediaHub unchanged', ({ runId, facts }) => [
      { cmd: verifyVolumes(c, runId, sets) },
      ...(c.chatbot.statsPath ? [httpCheckVia(c, c.hostnames.chatbot, viaNginxPath(c.chatbot.statsPath, c.chatbot.apiPrefix), runId)] : []),
      {
        cmd: { ...mediahubProbe(c), says: `list MediaHub's containers (project ${c.mediahub.project}): must be the same, same start times`, reads: true },
        check: (r) => {
          const now = r.stdout.trim().split('\n').filter(Boolean);
          if (JSON.stringify(now) !== JSON.stringify(facts.mediahub))
            throw new Error(`MediaHub containers changed during the migration (before: ${facts.mediahub.length}, now: ${now.length}): stop and inspect`);
        },
      },
    ]),

    // ---- cutover: readied behind the closed gate, so the freeze holds only what must follow the writer's stop
    step('cutover.ready', 'behind the closed gate: start the cutover helper (the delta and parity run in it), stop the backend container (the freeze then holds one start of it, not a restart)', ({ runId }) => [
      { cmd: helperOf(runId).start, undo: [helperOf(runId).remove], undoKind: 'removes-ours' as const, creates: [{ type: 'container' as const, name: helperOf(runId).name }] },
      { cmd: stopContainer('chatbot-backend'), undo: [startContainer('chatbot-backend')] },
    ]),
    // the write freeze starts when the writer stops
    step('cutover.stop-writer', 'stop the bare-metal backend (the writer): write freeze starts', () => [
      { cmd: backend.stop, undo: [backend.start, waitAnswers(backendUrl, 'the bare-metal backend', { strict: Boolean(c.chatbot.healthPath), seconds: 60 })] },
    ], true),
    step('cutover.delta', 'move only what changed since the backup into the volumes (fresh SQLite copy)', ({ runId }) => [
      { cmd: helperOf(runId).delta(uidgid), undoneBy: 'removing the volumes (volumes.create); bare metal is only read' },
    ]),
    // Parity reads the volumes while the container starts: it proves what the delta left, before anyone else can write.
    step('cutover.start', 'start the backend container on the final data (the gate stays closed), the final parity alongside: volumes hold exactly the bare-metal data', ({ runId }) => [
      { cmd: helperOf(runId).parity(), alongside: true },
      { cmd: startContainer('chatbot-backend'), undo: [stopContainer('chatbot-backend')] },
      { cmd: waitServing(c, runId) },
    ]),
    {
      ...step('cutover.open', 'open the gate: the containers take the public\'s reads and writes (the write freeze ends)', ({ runId }) => [
        {
          cmd: setGate(c, runId, true),
          // The way back once the public could write to the containers: close the gate, stop the container
          // writer, then copy whatever it changed back to bare metal (the old dirs kept beside them). Before
          // the gate opened nothing of the containers' is anyone's data: bare metal is left exactly as it is.
          undo: [setGate(c, runId, false), stopContainer('chatbot-backend'), syncBack(c, runId, sets)],
        },
        // Only the health path once the gate is open: the stats check ran in verify.parity on these containers, and
        // parity proved their final data; run again here it would hold up the public's first requests (an app
        // that computes its stats on request answers nothing else meanwhile).
        { cmd: waitServing(c) },
        { cmd: helperOf(runId).remove, undoneBy: 'nothing: the helper was this run\'s own (cutover.ready)' },
      ], true),
      // From here the public writes to the containers: the volumes may hold the only copy of its writes.
      takesWrites: true,
    },
    step('cutover.stop-frontend', 'stop the bare-metal frontend', () => [{ cmd: frontend.stop, undo: [frontend.start] }], true),
    step('cutover.disable', 'keep both bare-metal services from starting at boot', ({ runId }) =>
      boot(runId).map((svc) => ({ cmd: svc.disable, undo: [svc.enable] })), true),
  ];
}

/** What the dry run's summary says for CHM: the write freeze, and why some changes are never undone. */
export function chmPlanNotes(c: ChmConfig, facts: ChmFacts): string[] {
  const total = DATA_NAMES.reduce((n, d) => n + facts.dataBytes[d], 0);
  return [
    `Write freeze: from ${FREEZE.start.step} (the bare-metal backend stops) until ${FREEZE.end.step} (the gate opens): the delta since the backup, the backend container started with a final parity read of ${formatBytes(total)} twice alongside; the public gets 503 meanwhile.`,
    c.chatbot.snapshot.pauseWriter
      ? `The backup may also pause the writer for a few seconds (backup.snapshot), only if ChromaDB's files keep changing through ${c.chatbot.snapshot.attempts} copy passes.`
      : 'The backup never pauses the writer (chatbot.snapshot.pauseWriter: false): a ChromaDB that keeps changing fails backup.snapshot instead.',
    'Never undone on purpose: the backups, here and on the host.',
  ];
}
