import { sudo } from '../engine/command.ts';
import { HOST_STATE } from '../engine/files.ts';
import { lockProbe, parseLockOwner } from '../engine/lock.ts';
import type { Stamped } from '../engine/journal.ts';
import type { Probe } from '../engine/runbook.ts';

/** The entries that say where a run stands (the rest, every action with its undo, stays on the host). */
const STATE = /"type":"(run|step-done|step-failed|run-done|run-failed|run-rolled-back|undo-failed)"/;

const LIST = `cd ${HOST_STATE}/runs 2>/dev/null || exit 0
for f in */journal.jsonl; do [ -f "$f" ] || continue; echo "== \${f%/journal.jsonl}"; grep -E '${STATE.source}' "$f" || true; done`;

export interface HostRun {
  runId: string;
  runbook: string;
  operator: string;
  startedAt: string;
  state: string;
  next?: string;
}

/** Where one run stands, from its journal's state entries (oldest first). */
export function runState(runId: string, entries: Stamped[]): HostRun {
  const runs = entries.filter((e): e is Extract<Stamped, { type: 'run' }> => e.type === 'run');
  const first = runs[0];
  const since = entries.lastIndexOf(runs.at(-1)!);
  const last = entries.slice(since);
  const done = last.filter((e) => e.type === 'step-done').at(-1) as { step?: string } | undefined;
  const end = [...last]
    .reverse()
    .find((e) => ['run-done', 'run-failed', 'run-rolled-back', 'undo-failed'].includes(e.type));
  const state = !end
    ? `stopped or still running after ${done?.step ?? 'no step'}`
    : end.type === 'run-done'
      ? 'finished'
      : end.type === 'run-rolled-back'
        ? 'rolled back'
        : end.type === 'undo-failed'
          ? `rollback stopped at ${(end as { step: string }).step}`
          : `failed at ${(end as { step: string }).step}`;
  return {
    runId,
    runbook: first?.runbook ?? '?',
    operator: first?.operator ?? '?',
    startedAt: first?.startedAt ?? '?',
    state,
  };
}

/** The runs the host's journal mirrors know, newest first, one line each, and who holds the lock. */
export async function listHostRuns(probe: Probe): Promise<string[]> {
  const out = (await probe(sudo(['sh', '-c', LIST], { reads: true }))).stdout;
  const runs: HostRun[] = [];
  for (const block of out.split(/^== /m).filter(Boolean)) {
    const [id, ...lines] = block.split('\n');
    const entries = lines.filter(Boolean).flatMap((l) => {
      try {
        return [JSON.parse(l) as Stamped];
      } catch {
        return [];
      }
    });
    if (entries.some((e) => e.type === 'run')) runs.push(runState(id.trim(), entries));
  }
  runs.sort((a, b) => b.runId.localeCompare(a.runId));
  const owner = parseLockOwner((await probe(lockProbe())).stdout);
  return [
    owner
      ? `host lock: held by run ${owner.runId}${owner.runbook ? ` of ${owner.runbook}` : ''} (operator ${owner.operator}, since ${owner.since})`
      : 'host lock: free',
    ...(runs.length
      ? runs.map(
          (r) =>
            `${r.runId}  ${r.runbook}  ${r.operator}  started ${r.startedAt}  ${r.state}${owner?.runId === r.runId ? '  (holds the lock)' : ''}`,
        )
      : ['no runs recorded on this host']),
  ];
}
