import type { Command } from '../engine/command.ts';
import type { Action } from '../engine/step.ts';
import { UserError } from '../util/errors.ts';

/** A `docker compose … down -v|--volumes` or `docker volume rm|prune`: deletes volumes, and the data in them. */
export function deletesVolumes(cmd: Command): boolean {
  if (cmd.kind !== 'remote' && cmd.kind !== 'local') return false;
  const a = cmd.argv;
  const has = (...w: string[]) => w.some((x) => a.includes(x));
  if (
    has('compose', 'docker-compose') &&
    a.includes('down') &&
    (has('-v', '--volumes') || a.some((x) => /^-[a-z]*v[a-z]*$/.test(x) && a.indexOf(x) > a.indexOf('down')))
  )
    return true;
  if (a.some((x, i) => x === 'volume' && (a[i + 1] === 'rm' || a[i + 1] === 'prune'))) return true;
  // a shell script handed to sh -c / bash -c
  const script = (a[0] === 'sh' || a[0] === 'bash') && a[1] === '-c' ? (a[2] ?? '') : '';
  return (
    /compose[^\n;&|]*\sdown\b[^\n;&|]*\s(-v|--volumes)\b/.test(script) || /docker\s+volume\s+(rm|prune)\b/.test(script)
  );
}

/**
 * Refuse a plan with a `down -v` (or a volume rm) anywhere in it, in a command or an undo, unless
 * the operator typed the names of every volume it deletes (config `confirmVolumes`).
 */
export function refuseUnconfirmedVolumeDeletes(
  stepId: string,
  actions: Action[],
  volumes: string[],
  confirmed: string[],
): Action[] {
  const hits = actions.flatMap((a) => [a.cmd, ...(a.undo ?? [])]).filter(deletesVolumes);
  if (!hits.length) return actions;
  const missing = volumes.filter((v) => !confirmed.includes(v));
  if (missing.length || !volumes.length)
    throw new UserError(
      `step ${stepId} deletes volumes (${hits[0].says ?? 'down -v'}): ${volumes.length ? volumes.join(', ') : "the stack's volumes"}, and the data in them; refused: to confirm, type their names in the config: confirmVolumes: [${volumes.join(', ')}]`,
    );
  return actions;
}
