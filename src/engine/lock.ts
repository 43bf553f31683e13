import { sudo, type RemoteCommand } from './command.ts';
import type { Action } from './step.ts';
import { HOST_STATE, HOST_STATE_SH } from './files.ts';

/**
 * The host lock: one per host, shared by every runbook that changes it (migrate-chm, cleanup-chm,
 * pg.ts, verify-stack…), so no two of them, nor two operators, change one host at once. A directory
 * made atomically with mkdir, holding owner.json: the run, its runbook, operator, time, and the exact
 * commands that resume and roll back that run. Taking it again with the same run id succeeds, so a
 * resumed run, or its rollback, keeps its own lock. The runner takes it before a run, a --resume or a
 * --rollback changes anything, and releases it once the run is complete or rolled back.
 */
export const HOST_LOCK = `${HOST_STATE}/lock`;

const take = (prelude: string) => `set -e
${prelude}
mkdir -p "$(dirname "$1")"
if mkdir "$1" 2>/dev/null; then printf '%s\\n' "$3" | sed "s/\\"since\\":\\"@now\\"/\\"since\\":\\"$(date -u +%FT%TZ)\\"/" > "$1/owner.json"; exit 0; fi
if grep -q "\\"runId\\":\\"$2\\"" "$1/owner.json" 2>/dev/null; then
  # the run's own lock, re-entered (a resume, a rollback, a reconnect): its owner now is the one taking it
  printf '%s\\n' "$3" | sed "s/\\"since\\":\\"@now\\"/\\"since\\":\\"$(date -u +%FT%TZ)\\"/" > "$1/owner.json.part" && mv "$1/owner.json.part" "$1/owner.json"
  exit 0
fi
cat "$1/owner.json" >&2 2>/dev/null || echo '{}' >&2
exit 75`;

const RELEASE = `if [ -d "$1" ] && grep -q "\\"runId\\":\\"$2\\"" "$1/owner.json" 2>/dev/null; then rm -rf "$1"; fi`;

export interface LockOwner {
  runId: string;
  operator: string;
  /** The checkout that holds the run (this machine's name and its backups dir): another one needs --take-over. */
  machine?: string;
  /** When the host took it (written by the host: a plan made now takes the lock the same way later). */
  since?: string;
  /** The runbook that holds it, and that run's own next commands (absent in a lock an older version took). */
  runbook?: string;
  resume?: string;
  rollback?: string;
}

/**
 * Take the host lock for this run; exit 75 with the holder's owner.json on stderr when another run holds
 * it. First, cutover's host state is made root's only (HOST_STATE_SH; a test here passes '').
 */
export function takeLockCmd(owner: LockOwner, lockDir = HOST_LOCK, prelude = HOST_STATE_SH): RemoteCommand {
  return sudo(['sh', '-c', take(prelude), 'sh', lockDir, owner.runId, JSON.stringify({ ...owner, since: '@now' })], {
    says: `take the host lock ${lockDir} for run ${owner.runId} (operator ${owner.operator}); refused if another run holds it`,
  });
}

/** A lock step, for a runbook that still takes the lock as its first step (the runner takes it anyway). */
export function takeLock(lockDir: string, runId: string, operator: string): Action {
  const who = operator.replace(/[^A-Za-z0-9@._-]/g, '_');
  return {
    cmd: takeLockCmd({ runId, operator: who }, lockDir),
    undo: [releaseLockCmd(lockDir, runId)],
    creates: [{ type: 'lock', name: lockDir }],
  };
}

export function releaseLockCmd(lockDir: string, runId: string): RemoteCommand {
  return sudo(['sh', '-c', RELEASE, 'sh', lockDir, runId], {
    says: `release the host lock ${lockDir}, if this run holds it`,
  });
}

/** Read-only probe: who holds the lock, if anyone. */
export function lockProbe(lockDir = HOST_LOCK): RemoteCommand {
  return sudo(['sh', '-c', 'cat "$1/owner.json" 2>/dev/null || true', 'sh', lockDir], { reads: true });
}

export function parseLockOwner(stdout: string): LockOwner | undefined {
  const t = stdout.trim();
  if (!t) return undefined;
  try {
    const o = JSON.parse(t) as Partial<LockOwner>;
    return { runId: o.runId ?? 'unknown', operator: o.operator ?? 'unknown', since: o.since ?? 'unknown', ...o };
  } catch {
    return { runId: 'unknown', operator: 'unknown', since: 'unknown' };
  }
}

/** This run's lock is held by another checkout: stop here; nothing more of this process may touch the host. */
export class TakenOver extends Error {}

/** One line: this run is held by another checkout (OWNER.machine), and how to take it over once that one is down. */
export function heldElsewhereMessage(owner: LockOwner): string {
  return `run ${owner.runId} is held by ${owner.machine} (operator ${owner.operator}, since ${owner.since}): it may still be running there. If that machine is down or its run stopped, run this again with --take-over (the run, its lock and its journal become this checkout's; the other one then stops at its next contact with the host)`;
}

/** One line: who holds the host, and the exact next command of *that* run's runbook. */
export function lockHeldMessage(owner: LockOwner, fallbackCmd: string, lockDir = HOST_LOCK): string {
  const of = owner.runbook ? ` of ${owner.runbook}` : '';
  const resume = owner.resume ?? `${fallbackCmd} --resume ${owner.runId}`;
  const rollback = owner.rollback ?? `${fallbackCmd} --rollback ${owner.runId}`;
  return `host is locked by run ${owner.runId}${of} (operator ${owner.operator}, since ${owner.since}): wait for it, or if it is dead, continue it with \`${resume}\` or roll it back with \`${rollback}\` (a stale lock: \`sudo rm -rf ${lockDir}\` on the host)`;
}
