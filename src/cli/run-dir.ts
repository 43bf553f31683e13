import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Resource } from '../engine/step.ts';
import { UserError } from '../util/errors.ts';

/** What a run keeps here (backups/<run>/: its pid, the journal adopted from the host, the report) and what a rollback says it left. */

/** A rollback run leaves its account in the run's report (written by the run it undid), if there is one. */
export function appendToReport(runDir: string, section: string): void {
  const report = resolve(runDir, 'report.md');
  if (existsSync(report)) appendFileSync(report, `\n${section}`);
}

/** A rollback that stopped at a failed undo: where, why, and that nothing older was touched. */
export function rollbackStoppedMessage(u: { undoFailures: string[]; unreachable?: boolean }, again: string): string {
  const [first] = u.undoFailures;
  return `ROLLBACK STOPPED at ${first}. Nothing older was undone, so nothing that may hold the only copy of data was removed; ${u.unreachable ? 'when the host is reachable again' : 'fix the cause, then'} run ${again} to continue the rollback`;
}

export const keptNames = (kept: Resource[]) => [...new Set(kept.map((r) => r.name))].sort().join(', ');

/** What a rollback leaves on purpose, and how the operator removes it once satisfied. */
export function leftLines(kept: Resource[], extra: string[]): string[] {
  const volumes = [...new Set(kept.filter((r) => r.type === 'volume').map((r) => r.name))].sort();
  const other = kept.filter((r) => r.type !== 'volume');
  return [
    ...(volumes.length
      ? [
          `kept on purpose: volumes ${volumes.join(', ')} (they may hold the only copy of writes the containers took); once bare metal is checked, remove them with: docker volume rm ${volumes.join(' ')}`,
        ]
      : []),
    ...other.map((r) => `kept on purpose: ${r.type} ${r.name}`),
    ...extra,
  ];
}

/**
 * A --resume or --rollback of a run whose journal is on the host: this machine's copy is made the
 * host's when it has none (another machine started the run) or a shorter one (another machine went on
 * with it). Two copies that differ otherwise are refused: the operator decides which is the truth.
 */
export async function adoptHostJournal(journalPath: string, host: string, runId: string): Promise<void> {
  const local = existsSync(journalPath) ? readFileSync(journalPath, 'utf8') : '';
  if (!local && !host)
    throw new UserError(
      `no journal for run ${runId}, here (${journalPath}) or on the host: check the run id (--runs lists the host's runs)`,
    );
  // Either copy may be the longer one (this machine's mirror lagged, or another machine went on), but one must
  // extend the other: two copies that went different ways are two histories, and only the operator knows which holds.
  const [short, long] = host.length <= local.length ? [host, local] : [local, host];
  if (!long.startsWith(short))
    throw new UserError(
      `the journal of run ${runId} here (${journalPath}) and the host's differ: keep the one that is the truth (copy it over the other), then run again`,
    );
  if (host.length <= local.length) return;
  mkdirSync(dirname(journalPath), { recursive: true });
  writeFileSync(journalPath, host);
}

/**
 * One process per run: the host lock lets a run re-enter its own lock (for --resume), so a second
 * process on the same run id must be refused here while the first is alive.
 */
export function claimRun(runDir: string, runId: string): void {
  mkdirSync(runDir, { recursive: true });
  const pidFile = resolve(runDir, 'pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    let alive = false;
    try {
      if (pid && pid !== process.pid) {
        process.kill(pid, 0);
        // A killed process not yet reaped (zombie) is not running.
        const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
        alive = !/^\d+ \(.*\) Z/.test(stat);
      }
    } catch {
      /* not running */
    }
    if (alive)
      throw new UserError(
        `run ${runId} is still running (process ${pid}): wait for it, or stop it (Ctrl-C) before --resume/--rollback`,
      );
  }
  writeFileSync(pidFile, `${process.pid}\n`);
}
