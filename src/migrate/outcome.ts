import { resolve } from 'node:path';
import { Journal, replay } from '../engine/journal.ts';

/** How a run went, read from its journal: what every report says (the freeze, the snapshot, what a rollback kept, the result). */

type At = { step: string; action: number };

/** Seconds from "writer stopped" to "containers serving the final data to the public" (the gate
 * open and the backend answering through it), read from the journal. */
export function freezeSeconds(journalPath: string, freeze: { start: At; end: At }): number | undefined {
  const entries = Journal.read(journalPath);
  const at = (p: { step: string; action: number }) =>
    entries.find((e) => e.type === 'action-done' && e.step === p.step && e.index === p.action);
  const stopped = at(freeze.start);
  const serving = at(freeze.end);
  if (!stopped || !serving) return undefined;
  return (Date.parse(serving.t) - Date.parse(stopped.t)) / 1000;
}

export interface SnapshotSaid {
  attempts: number;
  paused_ms?: number | null;
}

/** Each snapshot agent's summary line, from the journal, by its action's index in backup.snapshot: attempts and the writers' pause. */
export function snapshotSummaries(journalPath: string): Map<number, SnapshotSaid> {
  // The step also streams the file sets alongside: a snapshot's line is the one that says its attempts.
  const out = new Map<number, SnapshotSaid>();
  for (const x of Journal.read(journalPath)) {
    if (x.type !== 'action-done' || x.step !== 'backup.snapshot' || !x.out) continue;
    try {
      const j = JSON.parse(x.out.split('\n').pop()!);
      if (j && typeof j === 'object' && 'attempts' in j) out.set(x.index, j as SnapshotSaid);
    } catch {
      // not a snapshot's line
    }
  }
  return out;
}

/** The last snapshot's summary (bench-stream reads it). */
export function snapshotSummary(journalPath: string): SnapshotSaid | undefined {
  return [...snapshotSummaries(journalPath).values()].pop();
}

/** What rollbacks of this run kept on purpose (data volumes the containers may have written to). */
export function keptSection(journalPath: string): string[] {
  const kept = replay(Journal.read(journalPath))
    .kept.filter((r) => r.type === 'volume')
    .map((r) => r.name);
  if (!kept.length) return [];
  const names = [...new Set(kept)].sort();
  return [
    '## Kept on purpose by the rollback',
    `Volumes ${names.map((n) => `\`${n}\``).join(', ')}: the containers were the writer, so they may hold the only copy of writes taken after the cutover. Once bare metal is checked: \`docker volume rm ${names.join(' ')}\`.`,
    '',
  ];
}

/** How the latest attempt of the run ended, from the journal (a resumed run counts its last attempt). */
export function runOutcome(entries: ReturnType<typeof Journal.read>) {
  const start = entries.map((e) => e.type === 'run' && e.mode !== 'rollback').lastIndexOf(true);
  const latest = entries.slice(Math.max(0, start));
  const failed = latest.filter((e) => e.type === 'run-failed').pop() as { step: string; error: string } | undefined;
  const rolledBack = latest.some((e) => e.type === 'run-rolled-back');
  const undoFailed = latest.filter((e) => e.type === 'undo-failed').pop() as
    { step: string; error: string } | undefined;
  const finished = latest.some((e) => e.type === 'run-done') && !failed;
  const lastDone = latest.filter((e) => e.type === 'step-done').pop() as { step: string } | undefined;
  const result = finished
    ? 'success'
    : failed
      ? `FAILED at ${failed.step}${undoFailed ? '; rollback STOPPED' : rolledBack ? '; rolled back' : '; not rolled back'}`
      : `stopped after ${lastDone?.step ?? 'the start'} as asked (resumable)`;
  return { failed, rolledBack, undoFailed, finished, result };
}

/** The report's "What failed" section (none when the run did not fail): the step, its error, and the way on with `cmd`. */
export function failedSection(o: ReturnType<typeof runOutcome>, cmd: string, runId: string, runDir: string): string[] {
  if (!o.failed) return [];
  return [
    '## What failed',
    `Step \`${o.failed.step}\`: ${o.failed.error}`,
    '',
    o.undoFailed
      ? `The rollback STOPPED at \`${o.undoFailed.step}\` (${o.undoFailed.error}): nothing older was undone. Fix the cause, then \`${cmd} --rollback ${runId}\` continues it.`
      : o.rolledBack
        ? 'Everything this run changed was rolled back (see "Kept on purpose" below for what a rollback keeps). Fix the cause, then run the migration again.'
        : `Not rolled back: \`${cmd} --resume ${runId}\` continues, \`--rollback ${runId}\` undoes.`,
    `Every command and all it printed: \`${resolve(runDir, 'run.log')}\`.`,
    '',
    'Only the checks below that name a step passed; nothing else is claimed.',
    '',
  ];
}

/** The report's step timings table. */
export function stepsTable(timings: Record<string, number>): string[] {
  return [
    '## Steps',
    '| step | seconds |',
    '|---|---|',
    ...Object.entries(timings).map(([s, ms]) => `| ${s} | ${(ms / 1000).toFixed(2)} |`),
    '',
  ];
}
