import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { sudo, type RemoteCommand } from '../engine/command.ts';
import { makeDir, writeFile } from '../engine/files.ts';
import { buildHostTool } from '../engine/host-tool.ts';
import type { Action, Step } from '../engine/step.ts';
import { httpCheck, waitAnswers } from '../engine/waits.ts';
import { formatBytes } from '../util/bytes.ts';
import {
  container, fileSets, imageTag, nginxContainer, pgSets, projectNetwork, routed, startedAtCutover, startedAtDeploy, volumeName, volumeOwner,
  writers,
} from './app.ts';
import { appChanges } from './app-changes.ts';
import { quietAfterStop, waitBareMetal, waitContainer } from './checks.ts';
import { markStill, stillSince } from './still.ts';
import { GATE_FILE, TLS_MOUNT, checkUrl, composeFile, nginxConf, routeCheckPath, secretsEnv, secretsFileName } from './deploy.ts';
import type { SpecFacts } from './facts.ts';
import { neighbourProbe } from './facts.ts';
import {
  agentPath, buildImage, cutoverHelper, fetchFile, gateConf, hostBackupDir, keepVolume, mergeManifest, nginxTest, removeImage,
  restoreVolumes, setGate, snapshot, startContainer, stopContainer, streamArchive, syncBack, uploadAgent, verifyVolumes,
  type VolumeSet,
} from './ops.ts';
import { serviceCommands } from './services.ts';
import type { Spec } from './spec.ts';

const ROOT = resolve(import.meta.dirname, '../..');
/** The agent's PostgreSQL data tool (src/agent/pg_data.py): `python3 AGENT pg-data CMD ...` as root. */
const pgData = (runId: string, ...args: string[]) => ['python3', agentPath(runId), 'pg-data', ...args];
/** The write freeze, as journal actions: from the bare-metal writers stopped to the gate open. */
export const SPEC_FREEZE = { start: { step: 'cutover.stop-writer', action: 0 }, end: { step: 'cutover.open', action: 0 } };

type S = Step<Spec, SpecFacts>;
const step = (id: string, title: string, plan: S['plan'], destructive = false): S => ({ id, title, plan, destructive });

/**
 * The migration of any app by its spec, in the same stages as CHM's (backup, volumes, deploy, verify,
 * cutover), built only from the spec: what is an app's lives there (src/migrate/spec.ts), what makes
 * the move safe here and in src/migrate/ops.ts.
 */
export function specSteps(s: Spec): S[] {
  const files = fileSets(s);
  const pgs = pgSets(s);
  const owner = `${s.owner}:${s.owner}`;
  const net = projectNetwork(s);
  // the run id is in each command's kept state (what a unit was before this run): never a shared placeholder
  const svc = (k: string, runId: string) => serviceCommands(s.services[k], s.owner, runId);
  /** Start a stopped bare-metal service, then wait for its check (none to wait for with check: none). */
  const startAgain = (k: string, runId: string) => [svc(k, runId).start, ...[waitBareMetal(s, k)].filter((c): c is RemoteCommand => Boolean(c))];
  const w = writers(s);
  /** The writers the routes reach: up since deploy.up, stopped before the freeze and started on the final data. */
  const restarted = w.filter((k) => routed(s).has(k));
  const helperOf = (runId: string) => cutoverHelper(s.helperImage, runId, files);
  const others = Object.keys(s.services).filter((k) => !w.includes(k));
  const stage = (runId: string, key: string) => `${hostBackupDir(runId)}/stage/${key}`;
  const staged = files.filter((f) => f.d.kind !== 'files');
  // as root: the secrets files are the owner's, mode 600
  const compose = (...args: string[]) => ['docker', 'compose', '-p', s.app, '-f', `${s.deployDir}/compose.yaml`, ...args];
  /** Each service's Dockerfile, in the deploy dir (ours), never in the app's code dir: the build names it with -f. */
  const dockerfile = (k: string) => `${s.deployDir}/Dockerfile.${k}`;
  const built = Object.entries(s.services).filter(([, v]) => 'dockerfile' in v.build).map(([k, v]) => ({ k, ...(v.build as { dockerfile: string; context: string; dockerignore?: string }) }));
  /** Each context's .dockerignore, once (the spec refuses two services of one context with different ones). */
  const ignores = [...new Map(built.filter((b) => b.dockerignore).map((b) => [b.context, b.dockerignore!])).entries()];
  const gateFile = `${s.deployDir}/gate/${GATE_FILE}`;
  const gate = (runId: string, open: boolean) => setGate(gateFile, owner, nginxContainer(s), gateConf(runId, open, s.app, `${s.app}'s data`), open, `${s.app}'s containers`);
  const byOwner = (sets: typeof files) => [...new Set(sets.map((f) => volumeOwner(s, f.d)))].map((o) => ({ o, sets: sets.filter((f) => volumeOwner(s, f.d) === o) }));
  const pgDumpAt = (runId: string, key: string, final = false) => `${hostBackupDir(runId)}/${key}${final ? '.final' : ''}.dump`;
  const viaNginx = (runId?: string) => s.routes.map((r) => {
    const path = routeCheckPath(s, r);
    return waitAnswers(checkUrl(s, path), `${r.service} through nginx (Host ${r.host}; see docker logs ${container(s, r.service)})`,
      { host: r.host, token: runId, strict: path !== r.prefix, seconds: 60, insecure: Boolean(s.nginx.tls) });
  });
  /** Each stopped service read back as stopped (its port closed, its unit's processes gone): a stop is never taken on its word. */
  const quiet = (keys: string[]): Action[] => keys.map((k) => quietAfterStop(s, k)).filter((c): c is RemoteCommand => Boolean(c)).map((cmd) => ({ cmd }));
  const waits = (keys: string[], runId: string) => keys.map((k) => waitContainer(s, k, runId, net)).filter((c): c is RemoteCommand => Boolean(c)).map((cmd) => ({ cmd }));
  const neighboursSame = (facts: SpecFacts): Action[] => s.neighbours.map((n) => ({
    cmd: { ...neighbourProbe(n.project), says: `list ${n.project}'s containers: must be the same, same start times` },
    check: (r) => {
      const now = r.stdout.trim().split('\n').filter(Boolean);
      if (JSON.stringify(now) !== JSON.stringify(facts.neighbours[n.project]))
        throw new Error(`${n.project}'s containers changed during the migration (before: ${facts.neighbours[n.project]?.length ?? 0}, now: ${now.length}): stop and inspect`);
    },
  }));

  /** Each neighbour's database, pg_dump'd to this machine as a safety net (alongside the snapshots when there are any). */
  const neighbourDumps = (runDir: string): Action[] => s.neighbours.filter((n) => n.dump).map((n) => ({
    cmd: { kind: 'download' as const, argv: ['docker', 'exec', n.dump!.container, 'pg_dump', '-U', n.dump!.user, n.dump!.db], localPath: `${runDir}/${n.project}.sql`, label: `${n.project} pg_dump`, says: `dump ${n.project}'s database ${n.dump!.db} (container ${n.dump!.container}) to ${runDir}/${n.project}.sql, a safety net` },
  }));

  const steps: S[] = [
    // ---- backup: never undone, never deleted by a rollback
    step('backup.prepare', 'make the host-side backup dir and upload the agent', ({ runId }) => [
      { cmd: sudo(['mkdir', '-p', `${hostBackupDir(runId)}/stage`], { says: `make the host-side backup dir ${hostBackupDir(runId)} (kept after the run)` }) },
      { cmd: uploadAgent(runId, buildHostTool(resolve(ROOT, 'src/agent')).bundle) },
    ]),
    // The snapshots run one after another, then their archives stream, alongside the streams of the plain
    // file sets (which do not read them): all share the link at once, so the backup keeps pace with it.
    ...(staged.length ? [step('backup.snapshot', `consistent copies of the SQLite data sets (backup API; other files copied until stable, else a short pause of their writers), each archive streamed once they are made, while the plain file sets stream${s.neighbours.some((n) => n.dump) ? '; the neighbours\' databases dumped meanwhile' : ''}`, ({ runId, runDir, facts }) => [
      ...staged.map((f) => ({
        cmd: snapshot(runId, f.live, stage(runId, f.key), {
          attempts: f.d.snapshot.attempts,
          dbs: f.d.kind === 'chromadb' ? undefined : (f.d.files ?? 'find'),
          what: f.d.kind === 'chromadb' ? 'the live ChromaDB' : `data set ${f.key}`,
          pause: f.d.snapshot.pauseWriter ? { stop: f.d.writers.map((k) => svc(k, runId).stop), start: f.d.writers.map((k) => svc(k, runId).start) } : undefined,
        }),
        alongside: true,
      })),
      ...staged.map((f) => ({ cmd: streamArchive(runId, runDir, f.key, stage(runId, f.key), facts.dataBytes[f.key] ?? 0, `${stage(runId, f.key)}.live-stat.json`), alongside: true })),
      ...neighbourDumps(runDir).map((a) => ({ ...a, alongside: true })),
      ...files.filter((f) => f.d.kind === 'files').map((f) => ({ cmd: streamArchive(runId, runDir, f.key, f.live, facts.dataBytes[f.key] ?? 0) })),
    ])] : []),
    step('backup.stream', `${staged.length ? 'finish the archives: the per-file manifest of every one (from the bytes streamed), fetched here' : 'archive every data set: one pass to this machine and to a host-side copy, sha256 on both ends'}${pgs.length ? '; PostgreSQL dumped' : ''}`, ({ runId, runDir, facts }) => [
      ...(staged.length ? [] : files.map((f) => ({ cmd: streamArchive(runId, runDir, f.key, f.live, facts.dataBytes[f.key] ?? 0) }))),
      ...(files.length ? [{ cmd: mergeManifest(runId, files.map((f) => f.key)) }, { cmd: fetchFile(`${hostBackupDir(runId)}/manifest.json`, `${runDir}/manifest.json`) }] : []),
      ...pgs.flatMap((p) => [
        { cmd: sudo([...pgData(runId, 'dump'), p.db, pgDumpAt(runId, p.key)], { says: `pg_dump the host's database ${p.db} to ${pgDumpAt(runId, p.key)} (sha256 beside it)` }) },
        { cmd: { ...fetchFile(pgDumpAt(runId, p.key), `${runDir}/${p.key}.dump`), sha256File: `${pgDumpAt(runId, p.key)}.sha256` } },
      ]),
      ...(staged.length ? [] : neighbourDumps(runDir)),
    ]),

    // ---- volumes
    step('volumes.create', 'create the data volumes, labelled with this run', ({ runId }) =>
      Object.keys(s.data).map((k) => ({
        cmd: { kind: 'docker' as const, op: 'volumeCreate' as const, name: volumeName(s, k), labels: { 'io.cutover.run': runId, 'io.cutover.data': k } },
        undo: [{ kind: 'docker' as const, op: 'volumeRemoveOwned' as const, name: volumeName(s, k), runId }],
        // Once the containers took writes (cutover.open on), a rollback keeps the volume instead.
        undoKind: 'destroys-data' as const,
        keep: [keepVolume(volumeName(s, k), runId)],
        creates: [{ type: 'volume' as const, name: volumeName(s, k) }],
      })),
    ),
    ...(files.length ? [step('volumes.restore', 'restore every file data set\'s volume from its host-side archive at once, verify every file against the manifest', ({ runId }) => [
      { cmd: restoreVolumes(s.helperImage, runId, files.map((f) => ({ ...f, owner: volumeOwner(s, f.d) }))), undoneBy: `removing volumes ${files.map((f) => f.volume).join(', ')} (volumes.create)` },
    ])] : []),

    // ---- deploy
    step('deploy.upload', 'upload compose, nginx, secrets and Dockerfiles (keeping any file they overwrite)', ({ runId }) => [
      { ...makeDir(s.deployDir, runId, owner), undoKind: 'removes-ours' as const },
      ...writeFile(`${s.deployDir}/compose.yaml`, composeFile(s, runId), runId, { owner }),
      ...Object.entries(s.services).filter(([, v]) => v.secrets.length).flatMap(([k]) => writeFile(`${s.deployDir}/${secretsFileName(k)}`, secretsEnv(s, k), runId, { owner, mode: '600' })),
      ...writeFile(`${s.deployDir}/nginx.conf`, nginxConf(s), runId, { owner }),
      ...writeFile(gateFile, gateConf(runId, false, s.app, `${s.app}'s data`), runId, { owner }),
      ...built.flatMap((b) => writeFile(dockerfile(b.k), readFileSync(resolve(b.dockerfile), 'utf8'), runId, { owner })),
      ...ignores.flatMap(([context, file]) => writeFile(`${context}/.dockerignore`, readFileSync(resolve(file), 'utf8'), runId, { owner })),
    ]),
    ...(built.length ? [step('deploy.build', 'build the services\' images on the host from local images only (no pull; a RUN step may still reach the network)', ({ runId }) =>
      built.map((b) => ({
        cmd: buildImage(b.context, dockerfile(b.k), imageTag(s, b.k, runId)),
        undo: [removeImage(imageTag(s, b.k, runId))],
        undoKind: 'removes-ours' as const,
        creates: [{ type: 'image' as const, name: imageTag(s, b.k, runId) }],
      })))] : []),
    step('deploy.nginx-test', 'nginx -t on the uploaded config', () => [
      { cmd: nginxTest(s.deployDir, 'none', s.nginx.tls ? ['-v', `${s.nginx.tls.cert}:${TLS_MOUNT.cert}:ro`, '-v', `${s.nginx.tls.key}:${TLS_MOUNT.key}:ro`] : []) },
    ]),
    step('deploy.up', `start ${s.app}'s compose project behind the closed gate (${startedAtDeploy(s).join(', ')}, nginx); a writer no route reaches starts at the cutover`, ({ runId }) => [
      {
        cmd: sudo(compose('up', '-d', '--wait', '--no-build', ...startedAtDeploy(s), 'nginx'), { says: `start compose project ${s.app} (${s.deployDir}/compose.yaml): ${[...startedAtDeploy(s).map((k) => container(s, k)), nginxContainer(s)].join(', ')}` }),
        // the data volumes are external: compose down never removes them
        undo: [sudo(compose('down', '--remove-orphans'), { okCodes: [0, 1, 14], says: `stop and remove compose project ${s.app}'s containers (its data volumes are external: never removed by compose)` })],
        undoKind: 'removes-ours' as const,
        creates: [...Object.keys(s.services).map((k) => ({ type: 'container' as const, name: container(s, k) })), { type: 'container' as const, name: nginxContainer(s) }],
      },
      ...waits(startedAtDeploy(s), runId),
    ]),
    ...(pgs.length ? [step('deploy.postgres', 'restore each PostgreSQL dump into its compose PostgreSQL service', ({ runId }) =>
      pgs.map((p) => ({
        cmd: sudo([...pgData(runId, 'restore'), p.container, p.user, p.db, pgDumpAt(runId, p.key)], { says: `make database ${p.db} in ${p.container} anew from ${p.key}.dump (owner ${p.user})` }),
        undoneBy: `removing volume ${p.volume} (volumes.create)`,
      })))] : []),

    // ---- verify (read-only)
    step('verify.endpoints', 'through nginx with Host headers, through the closed gate with this run\'s header; the spec\'s checks', ({ runId }) => [
      ...viaNginx(runId).map((cmd) => ({ cmd })),
      ...s.checks.map((c) => ({ cmd: httpCheck(checkUrl(s, c.path), { host: c.host, token: runId, insecure: Boolean(s.nginx.tls) }) })),
      // a neighbour this nginx now serves: each of its paths answers through it, as before the deploy
      ...s.neighbours.filter((n) => n.host).flatMap((n) => n.checkPaths.map((path) => ({ cmd: httpCheck(checkUrl(s, path), { host: n.host!, insecure: Boolean(s.nginx.tls) }) }))),
    ]),
    step('verify.parity', 'the volumes the containers run on still hold exactly the backup; the neighbours unchanged', ({ runId, facts }) => [
      ...(files.length ? [{ cmd: verifyVolumes(s.helperImage, runId, files) }] : []),
      ...neighboursSame(facts),
    ]),

    // ---- cutover: the write freeze starts when the writers stop
    // ---- cutover: readied behind the closed gate, so the freeze holds only what must follow the writers' stop
    step('cutover.ready', 'behind the closed gate: start the cutover helper (the delta and parity run in it), stop the routed writers\' containers (the freeze then holds one start of each, not a restart)', ({ runId }) => [
      ...(files.length ? [{ cmd: helperOf(runId).start, undo: [helperOf(runId).remove], undoKind: 'removes-ours' as const, creates: [{ type: 'container' as const, name: helperOf(runId).name }] }] : []),
      // Not started again by a rollback: undone newest first, a start here would run after bare metal's writer
      // started again (cutover.stop-writer's undo), a second writer on the volume; deploy.up's undo removes it.
      ...restarted.map((k) => ({ cmd: stopContainer(container(s, k)), undoneBy: `removing ${container(s, k)} with the project (deploy.up): a writer's container never starts again on a rollback` })),
    ]),
    // the write freeze starts when the writers stop
    step('cutover.stop-writer', `stop the bare-metal writers (${w.join(', ')}): write freeze starts; each stop read back`, ({ runId }) => [
      ...w.map((k) => ({ cmd: svc(k, runId).stop, undo: startAgain(k, runId) })),
      ...quiet(w),
    ], true),
    step('cutover.delta', 'move only what changed since the backup into the volumes (fresh SQLite copies); PostgreSQL dumped again and restored', ({ runId }) => [
      // from here bare metal must not change: read back once the gate is open (cutover.open)
      ...(files.length ? [{ cmd: markStill(runId), alongside: true, undoneBy: 'nothing: a record in this run\'s own state dir' }] : []),
      ...byOwner(files).map(({ o, sets }) => ({ cmd: helperOf(runId).delta(o, sets), undoneBy: 'removing the volumes (volumes.create); bare metal is only read' })),
      ...pgs.flatMap((p) => [
        { cmd: sudo([...pgData(runId, 'dump'), p.db, pgDumpAt(runId, p.key, true)], { says: `pg_dump the host's database ${p.db} again, its writers stopped` }) },
        { cmd: sudo([...pgData(runId, 'restore'), p.container, p.user, p.db, pgDumpAt(runId, p.key, true)], { says: `make database ${p.db} in ${p.container} anew from the final dump` }), undoneBy: `removing volume ${p.volume} (volumes.create)` },
      ]),
    ]),
    // Parity reads the volumes and databases while the containers start: it proves what the delta left, before anyone else can write.
    step('cutover.start', 'start the routed writers\' containers on the final data (the gate stays closed), the final parity alongside: the volumes and databases hold exactly the bare-metal data', ({ runId }) => [
      ...(files.length ? [{ cmd: helperOf(runId).parity(), alongside: true }] : []),
      ...pgs.map((p) => ({ cmd: sudo([...pgData(runId, 'parity'), p.db, p.container, p.user], { says: `check that ${p.container}'s database ${p.db} holds exactly the host's, table by table`, reads: true }), alongside: true })),
      ...restarted.map((k) => ({ cmd: startContainer(container(s, k)), undo: [stopContainer(container(s, k))] })),
      // each restarted writer is routed: its route's wait through nginx (its own check where the route reaches it) is its wait
      ...viaNginx(runId).map((cmd) => ({ cmd })),
    ]),
    {
      ...step('cutover.open', 'open the gate: the containers take the public\'s reads and writes (the write freeze ends)', ({ runId }) => [
        {
          cmd: gate(runId, true),
          // The way back once the public could write to the containers: close the gate, stop the container
          // writers, copy whatever they changed back to bare metal (the old data kept beside it).
          undo: [
            gate(runId, false),
            ...w.map((k) => stopContainer(container(s, k))),
            ...(files.length ? [syncBack(s.helperImage, runId, files as VolumeSet[])] : []),
            ...pgs.map((p) => sudo([...pgData(runId, 'sync-back'), p.container, p.user, p.db, `${p.db}_pre_rollback_${runId.replace(/-/g, '_')}`, `${hostBackupDir(runId)}/${p.key}.rollback.dump`],
              { says: `copy what ${p.container} wrote to ${p.db} back to the host's PostgreSQL (the host's database kept as ${p.db}_pre_rollback_…)` })),
          ],
        },
        // A writer no route reaches starts once parity held: its first write is the containers' own.
        ...(startedAtCutover(s).length ? [{
          cmd: sudo(compose('up', '-d', '--no-build', '--no-deps', ...startedAtCutover(s)), { says: `start ${startedAtCutover(s).map((k) => container(s, k)).join(', ')} (no route reaches them: they start once parity held)` }),
          undo: startedAtCutover(s).map((k) => stopContainer(container(s, k))),
        }] : []),
        ...waits(startedAtCutover(s), runId),
        ...viaNginx().map((cmd) => ({ cmd })),
        // a write on bare metal since its writers stopped is a writer the spec does not list: fail, and the rollback keeps both
        ...(files.length ? [{ cmd: stillSince(runId, files.map((f) => f.live)) }] : []),
        ...(files.length ? [{ cmd: helperOf(runId).remove, undoneBy: 'nothing: the helper was this run\'s own (cutover.ready)' }] : []),
      ], true),
      // From here the public writes to the containers: the volumes may hold the only copy of its writes.
      takesWrites: true,
      // A cut inside it: --resume opens the gate again and goes on (each action idempotent), never closing it
      // first (its undo would stop the containers and copy their writes back, and a redo would not restart them).
      redoOnResume: true,
    },
    ...(others.length ? [step('cutover.stop-others', `stop the other bare-metal services (${others.join(', ')}); each stop read back`, ({ runId }) => [
      ...others.map((k) => ({ cmd: svc(k, runId).stop, undo: startAgain(k, runId) })),
      ...quiet(others),
    ], true)] : []),
    step('cutover.disable', 'keep every bare-metal service from starting at boot', ({ runId }) =>
      Object.keys(s.services).map((k) => ({ cmd: svc(k, runId).disable, undo: [svc(k, runId).enable] })), true),
  ];
  return steps;
}

/** What the dry run's summary says: the write freeze, and why some changes are never undone. */
export function specPlanNotes(s: Spec, facts: SpecFacts): string[] {
  const total = Object.values(facts.dataBytes).reduce((a, b) => a + b, 0);
  const snapshots = fileSets(s).filter((f) => f.d.kind !== 'files');
  const pausing = snapshots.filter((f) => f.d.snapshot.pauseWriter);
  return [
    `Write freeze: from ${SPEC_FREEZE.start.step} (${writers(s).join(', ')} stop on bare metal) until ${SPEC_FREEZE.end.step} (the gate opens): the delta since the backup${pgSets(s).length ? ', a fresh dump of each PostgreSQL database' : ''}, the writers' containers started with a final parity read of ${formatBytes(total)} alongside; the public gets 503 meanwhile.`,
    ...(pausing.length ? [`The backup may also pause ${[...new Set(pausing.flatMap((f) => f.d.writers))].join(', ')} for a few seconds (backup.snapshot), only if ${pausing.map((f) => f.key).join(', ')} keep${pausing.length === 1 ? 's' : ''} changing through ${pausing.map((f) => f.d.snapshot.attempts).join('/')} copy passes.`] : []),
    ...(snapshots.length > pausing.length ? [`The backup never pauses the writers of ${snapshots.filter((f) => !f.d.snapshot.pauseWriter).map((f) => f.key).join(', ')} (snapshot.pauseWriter: false): one that keeps changing fails backup.snapshot instead.`] : []),
    `Never undone on purpose: the backups, here and on the host (${hostBackupDir('<run>')}).`,
    'What changes for the app:',
    ...appChanges(s).map((l) => `  ${l}`),
    ...(facts.hostNginx?.length ? ["The host's own nginx already serves these host names; what the new nginx does otherwise:", ...facts.hostNginx.map((l) => `  ${l}`)] : []),
  ];
}
