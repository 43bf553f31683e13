import { sudo } from '../engine/command.ts';
import { HOST_STATE } from '../engine/files.ts';
import { lockProbe, parseLockOwner } from '../engine/lock.ts';
import type { Stamped } from '../engine/journal.ts';
import type { Probe } from '../engine/runbook.ts';

/** The entries that say where a run stands (the rest, every action with its undo, stays on the host). */
const STATE = /"type":"(run|step-start|step-done|step-failed|run-done|run-failed|run-rolled-back|undo-failed)"/;

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

/** Each run the host's journal mirrors know: its id and its state entries, oldest first. */
async function readHostRuns(probe: Probe): Promise<{ id: string; entries: Stamped[] }[]> {
  const out = (await probe(sudo(['sh', '-c', LIST], { reads: true }))).stdout;
  return out
    .split(/^== /m)
    .filter(Boolean)
    .map((block) => {
      const [id, ...lines] = block.split('\n');
      const entries = lines.filter(Boolean).flatMap((l) => {
        try {
          return [JSON.parse(l) as Stamped];
        } catch {
          return [];
        }
      });
      return { id: id.trim(), entries };
    })
    .filter((r) => r.entries.some((e) => e.type === 'run'));
}

/**
 * The runs that build on RUN_ID's result (their first entry says `follows`) and are not rolled back, each with
 * the command that undoes it. A run that never began a step changed nothing.
 */
export async function runsBuildingOn(probe: Probe, runId: string): Promise<(HostRun & { rollback: string })[]> {
  return (await readHostRuns(probe)).flatMap(({ id, entries }) => {
    const first = entries.find((e) => e.type === 'run') as Extract<Stamped, { type: 'run' }>;
    if (first.follows !== runId || !entries.some((e) => e.type === 'step-start')) return [];
    const r = runState(id, entries);
    if (r.state === 'rolled back') return [];
    return [{ ...r, rollback: first.rollback ?? `npx tsx runbooks/${r.runbook}.ts --rollback ${id}` }];
  });
}

/** The one line refusing RUN_ID's rollback while later runs build on it, newest first: what to run, in order. */
export function buildsOnMessage(runId: string, after: (HostRun & { rollback: string })[]): string {
  const newest = [...after].sort((a, b) => b.runId.localeCompare(a.runId));
  const names = newest.map((r) => `${r.runId} of ${r.runbook} (${r.state})`).join(', ');
  return `${newest.length === 1 ? 'run' : 'runs'} ${names} ${newest.length === 1 ? 'builds' : 'build'} on run ${runId}'s result and ${newest.length === 1 ? 'is' : 'are'} not rolled back: roll ${newest.length === 1 ? 'it' : 'them'} back first, newest first (${newest.map((r) => r.rollback).join(', then ')}), then this rollback again; nothing was changed`;
}

/** The runs the host's journal mirrors know, newest first, one line each, and who holds the lock. */
export async function listHostRuns(probe: Probe): Promise<string[]> {
  const runs = (await readHostRuns(probe)).map(({ id, entries }) => runState(id, entries));
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
