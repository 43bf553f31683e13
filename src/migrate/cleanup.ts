import { remote, sudo } from '../engine/command.ts';
import { makeDir } from '../engine/files.ts';
import type { Facts, Probe } from '../engine/runbook.ts';
import type { Step } from '../engine/step.ts';
import { container, routed } from './app.ts';
import type { Spec } from './spec.ts';

/**
 * After a migration by spec, the cleanup it leaves to a separate, confirmed run: the spec's `cleanup.paths`
 * (old venvs, bare-metal service definitions) moved into a dated archive dir. Nothing is deleted;
 * `--rollback RUN_ID` puts everything back.
 */

export interface CleanupFacts {
  /** Configured paths that exist now, in order. */
  present: string[];
  migratedBy: string;
}

/** Cleanup runs only after a migration: the app's containers serving, bare metal stopped. */
export async function gatherCleanup(probe: Probe, s: Spec, migrateCmd: string): Promise<Facts<CleanupFacts>> {
  const problems = [];
  const first = container(s, [...routed(s)][0]);
  const k = await probe(
    remote(['docker', 'inspect', '-f', '{{.State.Running}} {{index .Config.Labels "io.cutover.run"}}', first], {
      reads: true,
    }),
  );
  const [running, migratedBy = ''] = k.stdout.trim().split(' ');
  // Any HTTP answer at all (or a connect, for a service that is not HTTP) means a bare-metal service still serves.
  let stillServing: string | undefined;
  for (const [key, svc] of Object.entries(s.services)) {
    if (svc.port === undefined || stillServing) continue;
    const r = await probe(
      remote(['curl', '-sS', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${svc.port}/`], {
        reads: true,
      }),
    );
    // curl 52: connected, empty reply; 1/8: connected, not HTTP
    if (/^[1-5]\d\d$/.test(r.stdout.trim()) || [1, 8, 52, 56].includes(r.code))
      stillServing = `the bare-metal ${key} still answers on :${svc.port}`;
  }
  if (k.code !== 0 || running !== 'true' || !migratedBy)
    problems.push({
      message: `cleanup is for after a successful migration, and ${first} is not running: run ${migrateCmd} first`,
    });
  else if (stillServing)
    problems.push({ message: `${stillServing}: finish the migration (cutover) before cleaning up` });
  if (s.cleanup.paths.length === 0)
    problems.push({
      message: 'nothing to clean up: list paths under `cleanup.paths` in the spec (example: paths: [/srv/app/venv])',
    });
  const present: string[] = [];
  for (const p of s.cleanup.paths)
    if ((await probe(sudo(['test', '-e', p], { reads: true }))).code === 0) present.push(p);
  return {
    facts: { present, migratedBy },
    problems,
    alreadyDone:
      problems.length === 0 && present.length === 0 ? 'every path under cleanup.paths is already archived' : undefined,
  };
}

/** Where a cleanup archives: `cleanup.archiveDir` (default: the owner's home's cutover-archive), dated by its run id. */
export const archiveDirFor = (s: Spec, runId: string) =>
  `${s.cleanup.archiveDir ?? `/home/${s.owner}/cutover-archive`}-${runId}`;

export function cleanupSteps(s: Spec): Step<Spec, CleanupFacts>[] {
  const reload = sudo(
    [
      'sh',
      '-c',
      'if command -v supervisorctl >/dev/null && supervisorctl pid >/dev/null 2>&1; then supervisorctl reread >/dev/null && supervisorctl update >/dev/null; fi',
    ],
    { says: 'let supervisord read its program files again, if it runs' },
  );
  return [
    {
      id: 'cleanup.archive',
      title: 'move old venvs and bare-metal service definitions into a dated archive dir (nothing is deleted)',
      destructive: true,
      plan: ({ runId, facts }) => {
        const dir = archiveDirFor(s, runId);
        return [
          makeDir(dir, runId),
          ...facts.present.map((p) => {
            const dest = `${dir}${p}`;
            return {
              cmd: sudo(
                [
                  'sh',
                  '-c',
                  'set -e; if [ -e "$1" ] && [ ! -e "$2" ]; then mkdir -p "$(dirname "$2")"; mv "$1" "$2"; fi',
                  'sh',
                  p,
                  dest,
                ],
                { says: `move ${p} into ${dir}` },
              ),
              undo: [
                sudo(['sh', '-c', 'if [ -e "$2" ] && [ ! -e "$1" ]; then mv "$2" "$1"; fi', 'sh', p, dest], {
                  says: `move ${p} back from ${dir}`,
                }),
                reload,
              ],
              creates: [{ type: 'file' as const, name: p, keptAt: dest }],
            };
          }),
          { cmd: reload },
        ];
      },
    },
  ];
}
