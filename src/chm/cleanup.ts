import { remote, sudo } from '../engine/command.ts';
import { makeDir } from '../engine/files.ts';
import type { Facts, Probe } from '../engine/runbook.ts';
import type { Step } from '../engine/step.ts';
import type { ChmConfig } from './config.ts';

export interface CleanupFacts {
  /** Configured paths that exist now, in order. */
  present: string[];
  migratedBy: string;
}

/** Cleanup runs only after a migration: containers serving, bare metal stopped. */
export async function gatherCleanup(probe: Probe, c: ChmConfig): Promise<Facts<CleanupFacts>> {
  const problems = [];
  const k = await probe(remote(['docker', 'inspect', '-f', '{{.State.Running}} {{index .Config.Labels "io.cutover.run"}}', 'chatbot-backend']));
  const [running, migratedBy = ''] = k.stdout.trim().split(' ');
  // Any HTTP answer at all means a bare-metal backend still serves (without healthPath: its root).
  const bareUrl = `http://127.0.0.1:${c.chatbot.backend.port}${c.chatbot.healthPath ?? '/'}`;
  const bare = await probe(remote(['curl', '-sS', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', bareUrl]));
  const bareAnswers = /^[1-5]\d\d$/.test(bare.stdout.trim());
  if (k.code !== 0 || running !== 'true' || !migratedBy)
    problems.push({ message: 'cleanup is for after a successful migration, and the chatbot containers are not running: run runbooks/migrate-chm.ts first' });
  else if (bareAnswers)
    problems.push({ message: `the bare-metal backend still answers on :${c.chatbot.backend.port}: finish the migration (cutover) before cleaning up` });
  if (c.cleanup.paths.length === 0) problems.push({ message: 'nothing to clean up: list paths under `cleanup.paths` in the config (example: paths: [/home/ubuntu/chm-chatbot/venv])' });
  const present: string[] = [];
  for (const p of c.cleanup.paths) if ((await probe(sudo(['test', '-e', p]))).code === 0) present.push(p);
  return { facts: { present, migratedBy }, problems, alreadyDone: problems.length === 0 && present.length === 0 ? 'every path under cleanup.paths is already archived' : undefined };
}

/** Each cleanup its own archive (dated by its run id): an undo never touches what another run archived. */
export const archiveDirFor = (c: ChmConfig, runId: string) => `${c.cleanup.archiveDir}-${runId}`;

export function cleanupSteps(c: ChmConfig): Step<ChmConfig, CleanupFacts>[] {
  const reload = sudo(['sh', '-c', 'if command -v supervisorctl >/dev/null && supervisorctl pid >/dev/null 2>&1; then supervisorctl reread >/dev/null && supervisorctl update >/dev/null; fi']);
  return [
    {
      id: 'cleanup.archive',
      title: 'move old venvs and bare-metal service definitions into a dated archive dir (nothing is deleted)',
      destructive: true,
      plan: ({ runId, facts }) => {
        const dir = archiveDirFor(c, runId);
        return [
          makeDir(dir, runId),
          ...facts.present.map((p) => {
            const dest = `${dir}${p}`;
            return {
              cmd: sudo(['sh', '-c', 'set -e; if [ -e "$1" ] && [ ! -e "$2" ]; then mkdir -p "$(dirname "$2")"; mv "$1" "$2"; fi', 'sh', p, dest]),
              undo: [sudo(['sh', '-c', 'if [ -e "$2" ] && [ ! -e "$1" ]; then mv "$2" "$1"; fi', 'sh', p, dest]), reload],
              creates: [{ type: 'file' as const, name: p, keptAt: dest }],
            };
          }),
          { cmd: reload },
        ];
      },
    },
  ];
}
