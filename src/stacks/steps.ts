import { posix } from 'node:path';
import { remote, type RemoteCommand } from '../engine/command.ts';
import { joinScript } from '../engine/host-tool.ts';
import type { Action, PlanContext, Step } from '../engine/step.ts';
import { Journal } from '../engine/journal.ts';
import type { StackConfig } from './config.ts';
import { refuseUnconfirmedVolumeDeletes } from './guard.ts';
import { checkResults } from './checklist.ts';

/** One run per stack at a time (two verify-stack runs, or one during a pg.ts restore of it, would trip each other's checks). */

/** The host side of every check (probe.py and its parts, joined into one script): run with python3 on the host, one check per call. */
export const PROBE_PARTS = ['probe.py', 'probe_lifecycle.py', 'probe_services.py'] as const;
const PROBE = joinScript(import.meta.url, PROBE_PARTS);

export interface StackFacts {
  /**
   * How the stack was found: running (any container up) or not; the compose files its containers came
   * from (their labels); and each service's state: what a run puts back, success or failure.
   */
  found: { running: boolean; files: string[]; services?: FoundService[] };
  /** The project's volumes on the host (what a down -v would delete). */
  volumes: string[];
}

/** One service as found: its containers' ids, running (any of them) or stopped, healthy when running. */
export interface FoundService {
  service: string;
  ids: string[];
  running: boolean;
  healthy: boolean;
}

type Ctx = PlanContext<StackConfig, StackFacts>;

/** Put the stack back as found: each service running or stopped as it was, or no containers at all (down). */
export function asFound(c: StackConfig, f: StackFacts, says: string): RemoteCommand {
  const s = f.found.services ?? [];
  const pick = (p: (x: FoundService) => boolean) =>
    s
      .filter(p)
      .map((x) => x.service)
      .sort();
  const found = {
    files: f.found.files,
    running: pick((x) => x.running),
    healthy: pick((x) => x.running && x.healthy),
    stopped: pick((x) => !x.running),
  };
  return probe(c, 'as-found', { found }, { says });
}

/** In words: how the stack was found. */
export function foundWords(f: StackFacts): string {
  const s = f.found.services ?? [];
  const up = s.filter((x) => x.running).map((x) => x.service);
  if (!s.length) return 'not deployed (no containers)';
  if (up.length === s.length) return `running (${up.join(', ')})`;
  if (!up.length) return `stopped (${s.map((x) => x.service).join(', ')})`;
  return `partly up: ${up.join(', ')} running; ${s
    .filter((x) => !x.running)
    .map((x) => x.service)
    .join(', ')} stopped`;
}

export const abs = (c: StackConfig, f: string) => posix.resolve(c.stack.dir, f);
export const files = (c: StackConfig, fs = c.stack.files) => fs.map((f) => abs(c, f));
const names = (fs: string[]) => fs.map((f) => posix.basename(f)).join(' + ');

/** One call of probe.py: CHECK with its arguments as one JSON value (data, never spliced into a script). */
export function probe(
  c: StackConfig,
  check: string,
  extra: Record<string, unknown>,
  o: { says: string; reads?: boolean; soft?: boolean },
): RemoteCommand {
  const args = {
    project: c.stack.project,
    files: files(c),
    ...(c.stack.envFile ? { envFile: abs(c, c.stack.envFile) } : {}),
    deadline: c.deadlineSeconds,
    ...extra,
  };
  return remote(['python3', '-c', PROBE, check, JSON.stringify(args)], {
    says: o.says,
    ...(o.reads ? { reads: true } : {}),
    ...(o.soft ? { okCodes: [0, 1] } : {}),
  });
}

/** The steps that verify a stack, in order. Checks that change nothing are `reads`; the rest put the stack back as found on rollback. */
export function stackSteps(c: StackConfig): Step<StackConfig, StackFacts>[] {
  const k = c.checks;
  const cfgFiles = files(c);
  const upWait = (fs: string[], what: string, extra: Record<string, unknown> = {}) =>
    probe(
      c,
      'up',
      { files: fs, ...extra },
      {
        says: `docker compose up -d (${names(fs)})${what}, then wait until every service runs and is healthy (up to ${c.deadlineSeconds} s; timed)`,
      },
    );
  const covered = 'putting the stack back as found (the undo of stack.up)';
  const steps: Step<StackConfig, StackFacts>[] = [];
  const check = (id: string, title: string, cmd: RemoteCommand): Step<StackConfig, StackFacts> => ({
    id,
    title,
    plan: () => [{ cmd }],
  });

  if (k.config)
    steps.push(
      check(
        'check.config',
        'the compose files are valid (docker compose config -q), with every overlay as given',
        probe(
          c,
          'config',
          { overlays: k.overlays.map((o) => ({ name: o.name, files: files(c, o.files) })) },
          {
            says: `docker compose config -q for ${[names(cfgFiles), ...k.overlays.map((o) => names(o.files))].join(', and ')}`,
            reads: true,
          },
        ),
      ),
    );
  if (k.ports)
    steps.push(
      check(
        'check.ports',
        'the host ports the stack publishes are free, or held by this stack',
        probe(
          c,
          'ports',
          { overlays: k.overlays.map((o) => ({ name: o.name, files: files(c, o.files) })) },
          {
            says: 'list the host ports the compose files publish; each must be free or held by this project (else name the holder)',
            reads: true,
          },
        ),
      ),
    );
  if (c.freshVolumes)
    steps.push({
      id: 'stack.fresh-volumes',
      title: 'start from empty volumes (docker compose down -v)',
      destructive: true,
      plan: () => [
        {
          cmd: remote(
            ['docker', 'compose', '-p', c.stack.project, ...cfgFiles.flatMap((f) => ['-f', f]), 'down', '-v'],
            { says: "docker compose down -v: delete the stack's volumes and the data in them" },
          ),
          undoneBy: 'nothing: deleted data does not come back',
        },
      ],
    });
  steps.push({
    id: 'stack.up',
    title: `the stack comes up (docker compose up), every service healthy within ${c.deadlineSeconds} s`,
    plan: ({ facts }: Ctx) => {
      const none = !(facts.found.services ?? []).length;
      return [
        {
          cmd: upWait(cfgFiles, ''),
          undo: [
            none
              ? asFound(c, facts, 'take the stack down again, as found (docker compose down; volumes kept)')
              : asFound(
                  c,
                  facts,
                  `put the stack back as found (${foundWords(facts)}), with the files it ran with` +
                    ` (${names(facts.found.files)}); read back`,
                ),
          ],
          undoKind: none ? 'removes-ours' : 'restores',
        },
      ];
    },
  });
  if (k.healthy)
    steps.push(
      check(
        'check.healthy',
        'every service is running and healthy (each has a healthcheck)',
        probe(
          c,
          'healthy',
          { answers: k.answers },
          {
            says: `every service running, with a healthcheck, healthy${k.answers.length ? `; ${k.answers.join(', ')} answer 2xx` : ''}`,
            reads: true,
            soft: true,
          },
        ),
      ),
    );
  if (k.reach.length)
    steps.push(
      check(
        'check.reach',
        'services reach each other by service name, never through localhost or a host address',
        probe(
          c,
          'reach',
          { reach: k.reach, allowLocalhost: k.allowLocalhost },
          {
            says: `from inside the containers: ${k.reach.map((r) => `${r.from}→${r.to}:${r.port}${r.path ?? ''}`).join(', ')}; no env sends one container to another through localhost or a host IP`,
            reads: true,
            soft: true,
          },
        ),
      ),
    );
  if (k.logs)
    steps.push(
      check(
        'check.logs',
        'each service has log lines that docker compose logs returns',
        probe(
          c,
          'logs',
          {},
          { says: 'docker compose logs --tail 50 for each service: each must return lines', reads: true, soft: true },
        ),
      ),
    );
  if (k.restart)
    steps.push({
      id: 'stack.restart',
      title: `restarts cleanly: docker compose restart, healthy again within ${c.deadlineSeconds} s`,
      plan: () => [
        {
          cmd: probe(
            c,
            'restart',
            {},
            {
              says: `docker compose restart, then wait until every service runs and is healthy again (up to ${c.deadlineSeconds} s; timed)`,
            },
          ),
          undoneBy: covered,
        },
      ],
    });
  if (k.persist.length)
    steps.push({
      id: 'stack.persist',
      title: 'data persists across docker compose down + up (a marker written before, read back after)',
      plan: ({ runId }: Ctx) => {
        const where = (m: (typeof k.persist)[number]) =>
          `${m.service} (${m.kind === 'postgres' ? `table cutover_marker in ${m.db}` : `key cutover:marker:${runId}`})`;
        return [
          {
            cmd: probe(
              c,
              'anonymous',
              {},
              {
                says:
                  'no service keeps data on an anonymous volume (a down + up would leave it detached): else refuse,' +
                  ' naming the volume and its mount, before anything changes',
                reads: true,
              },
            ),
          },
          ...k.persist.map((m): Action => ({
            cmd: probe(
              c,
              'marker-write',
              { marker: m, run: runId },
              { says: `write a marker for this run into ${where(m)}` },
            ),
            undo: [
              probe(
                c,
                'marker-delete',
                { marker: m, run: runId },
                { says: `remove this run's marker from ${where(m)}` },
              ),
            ],
          })),
          {
            cmd: probe(
              c,
              'down',
              { refuseAnonymous: true },
              { says: 'docker compose down (containers, networks; never -v; refused on anonymous volumes)' },
            ),
            undoneBy: covered,
          },
          { cmd: upWait(cfgFiles, ' again'), undoneBy: covered },
          ...k.persist.map((m): Action => ({
            cmd: probe(
              c,
              'marker-read',
              { marker: m, run: runId },
              { says: `the marker is still in ${where(m)}`, reads: true },
            ),
          })),
          ...k.persist.map((m): Action => ({
            cmd: probe(
              c,
              'marker-delete',
              { marker: m, run: runId },
              { says: `remove this run's marker from ${where(m)}` },
            ),
            undoneBy: "the marker's removal above",
          })),
        ];
      },
    });
  for (const o of k.overlays)
    steps.push({
      id: `stack.overlay.${o.name}`,
      title: `the ${o.name} overlay comes up${o.url ? ` and serves at ${o.url}` : ''}, then back to ${names(cfgFiles)}`,
      plan: () => [
        {
          cmd: upWait(files(c, o.files), o.url ? `; ${o.url} must answer 2xx` : '', { url: o.url }),
          undoneBy: covered,
        },
        { cmd: upWait(cfgFiles, ' back', { removeOrphans: true }), undoneBy: covered },
      ],
    });
  steps.push({
    id: 'stack.as-found',
    title: 'the stack as found: each service running or stopped as it was (or no containers), success or not',
    plan: ({ facts }: Ctx) => [
      {
        cmd: asFound(c, facts, `put the stack back as found (${foundWords(facts)}); read back`),
        undoneBy: 'nothing to undo: it is the state found',
      },
    ],
  });
  steps.push({
    id: 'verdict',
    title: 'every check above held',
    plan: ({ runDir }: Ctx) => [
      {
        cmd: remote(['true'], {
          says: 'every check above held (else the run fails and the stack is put back as found)',
          reads: true,
        }),
        check: () => {
          const failed = checkResults(Journal.read(posix.join(runDir, 'journal.jsonl'))).filter(
            (r) => r.status === 'fail',
          );
          if (failed.length)
            throw new Error(
              `${failed.length} check${failed.length > 1 ? 's' : ''} did not hold: ${failed.map((f) => `${f.id} (${f.reason})`).join('; ')}`,
            );
        },
      },
    ],
  });
  return steps.map((s) => ({
    ...s,
    plan: (ctx: Ctx) => refuseUnconfirmedVolumeDeletes(s.id, s.plan(ctx), ctx.facts.volumes, c.confirmVolumes),
  }));
}
