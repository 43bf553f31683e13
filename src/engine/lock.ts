import { sudo, type RemoteCommand } from './command.ts';
import type { Action } from './step.ts';
import { HOST_STATE_SH } from './files.ts';

/**
 * The host lock: a directory made atomically with mkdir, holding owner.json (run id, operator,
 * time). Taking it again with the same run id succeeds, so a resumed run keeps its own lock. Every runbook's first
 * step: it also makes cutover's host state root's only (HOST_STATE_SH) before anything is kept there.
 */
const TAKE = `set -e
${HOST_STATE_SH}
mkdir -p "$(dirname "$1")"
if mkdir "$1" 2>/dev/null; then
  printf '{"runId":"%s","operator":"%s","since":"%s"}\\n' "$2" "$3" "$(date -u +%FT%TZ)" > "$1/owner.json"; exit 0
fi
if grep -q "\\"runId\\":\\"$2\\"" "$1/owner.json" 2>/dev/null; then exit 0; fi
o=$(cat "$1/owner.json" 2>/dev/null); f() { printf '%s' "$o" | sed -n "s/.*\\"$1\\":\\"\\([^\\"]*\\)\\".*/\\1/p"; }
echo "the host is locked by run $(f runId) (operator $(f operator), since $(f since)): it won the race; wait for it to finish, or if it is dead, --resume or --rollback that run" >&2
exit 75`;

const RELEASE = `if [ -d "$1" ] && grep -q "\\"runId\\":\\"$2\\"" "$1/owner.json" 2>/dev/null; then rm -rf "$1"; fi`;

export function takeLock(lockDir: string, runId: string, operator: string): Action {
  const who = operator.replace(/[^A-Za-z0-9@._-]/g, '_');
  return {
    cmd: sudo(['sh', '-c', TAKE, 'sh', lockDir, runId, who], { says: `take the host lock ${lockDir} for this run (operator ${who}); refused if another run holds it` }),
    undo: [releaseLockCmd(lockDir, runId)],
    creates: [{ type: 'lock', name: lockDir }],
  };
}

export function releaseLockCmd(lockDir: string, runId: string): RemoteCommand {
  return sudo(['sh', '-c', RELEASE, 'sh', lockDir, runId], { says: `release the host lock ${lockDir}, if this run holds it` });
}

/** Read-only probe: who holds the lock, if anyone. */
export function lockProbe(lockDir: string): RemoteCommand {
  return sudo(['sh', '-c', 'cat "$1/owner.json" 2>/dev/null || true', 'sh', lockDir]);
}

export interface LockOwner {
  runId: string;
  operator: string;
  since: string;
}

export function parseLockOwner(stdout: string): LockOwner | undefined {
  const t = stdout.trim();
  if (!t) return undefined;
  try {
    return JSON.parse(t) as LockOwner;
  } catch {
    return { runId: 'unknown', operator: 'unknown', since: 'unknown' };
  }
}

export function lockHeldMessage(owner: LockOwner, lockDir: string, runbookCmd: string): string {
  return `host is locked by run ${owner.runId} (operator ${owner.operator}, since ${owner.since}): wait for it, or if it is dead, roll it back with \`${runbookCmd} --rollback ${owner.runId}\` (or release a stale lock with \`sudo rm -rf ${lockDir}\` on the host)`;
}
