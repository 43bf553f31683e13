import type { Stamped } from '../engine/journal.ts';

export interface CheckResult {
  id: string;
  status: 'pass' | 'fail' | 'not-run';
  reason?: string;
  fix?: string;
  /** What the check measured or saw (seconds to healthy, the reachability matrix, ports). */
  detail?: Record<string, unknown>;
}

interface ProbeOut {
  ok: boolean;
  reason: string;
  fix: string;
  detail?: Record<string, unknown>;
}

const parseOut = (out?: string): ProbeOut | undefined => {
  const last = out?.trim().split('\n').at(-1);
  if (!last?.startsWith('{')) return undefined;
  try {
    return JSON.parse(last) as ProbeOut;
  } catch {
    return undefined;
  }
};

/** "REASON; fix: FIX (exit 1; 3 more lines with --verbose)" -> reason and fix. */
export function splitError(error: string): { reason: string; fix?: string } {
  const e = error.replace(/ \(exit \d+[^)]*\)$/, '');
  const i = e.lastIndexOf('; fix: ');
  return i < 0 ? { reason: e } : { reason: e.slice(0, i), fix: e.slice(i + 7) };
}

/** Each step's result as a check, from the run's journal (the latest attempt of each step): works for --resume too. */
export function checkResults(entries: Stamped[], stepIds?: string[]): CheckResult[] {
  const ids = stepIds ?? [
    ...new Set(entries.filter((e) => e.type === 'step-start').map((e) => (e as { step: string }).step)),
  ];
  // stack.as-found is the put-back, not a check (on a failure the rollback does it instead)
  return ids
    .filter((id) => !['verdict', 'stack.as-found'].includes(id))
    .map((id): CheckResult => {
      let start = -1;
      entries.forEach((e, i) => {
        if (e.type === 'step-start' && e.step === id) start = i;
      });
      if (start < 0) return { id, status: 'not-run' };
      const mine = entries.slice(start).filter((e) => 'step' in e && e.step === id);
      const failed = mine.find((e) => e.type === 'step-failed');
      const outs = mine
        .flatMap((e) => (e.type === 'action-done' ? [parseOut(e.out)] : []))
        .filter((o): o is ProbeOut => Boolean(o));
      const detail = Object.assign({}, ...outs.map((o) => o.detail ?? {})) as Record<string, unknown>;
      if (failed && failed.type === 'step-failed') return { id, status: 'fail', ...splitError(failed.error), detail };
      const bad = outs.find((o) => !o.ok);
      if (bad) return { id, status: 'fail', reason: bad.reason, fix: bad.fix, detail };
      if (!mine.some((e) => e.type === 'step-done')) return { id, status: 'not-run' };
      // every timed wait of the step, in order (up, restart, down+up)
      const seconds = outs.map((o) => o.detail?.seconds).filter((s): s is number => typeof s === 'number');
      return { id, status: 'pass', detail: { ...detail, ...(seconds.length ? { seconds } : {}) } };
    });
}

const mark = { pass: '✓', fail: '✗', 'not-run': '–' } as const;

function note(r: CheckResult): string {
  const d = r.detail ?? {};
  const parts: string[] = [];
  if (Array.isArray(d.seconds) && d.seconds.length)
    parts.push(`healthy in ${d.seconds.map((s) => `${s} s`).join(', then ')}`);
  if (Array.isArray(d.matrix)) parts.push(d.matrix.join('; '));
  if (Array.isArray(d.ports)) parts.push(d.ports.length ? d.ports.join('; ') : 'publishes no host ports');
  if (d.lines && typeof d.lines === 'object')
    parts.push(
      Object.entries(d.lines)
        .map(([s, n]) => `${s} ${n} lines`)
        .join(', '),
    );
  return parts.join('; ');
}

/** The checklist for a terminal: ✓/✗/– per check, a one-line reason and fix under each ✗. */
export function checklistLines(results: CheckResult[], titles: Record<string, string>, head: string): string[] {
  const w = Math.max(...results.map((r) => r.id.length));
  const lines = [head];
  for (const r of results) {
    const n = r.status === 'pass' ? note(r) : r.status === 'not-run' ? 'not run (an earlier step failed)' : '';
    lines.push(`  ${mark[r.status]} ${r.id.padEnd(w)}  ${titles[r.id] ?? ''}${n ? ` — ${n}` : ''}`);
    if (r.status === 'fail') {
      lines.push(`      why: ${r.reason}`);
      if (r.fix) lines.push(`      fix: ${r.fix}`);
    }
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const notRun = results.filter((r) => r.status === 'not-run').length;
  lines.push(
    failed || notRun
      ? `${failed} of ${results.length} checks did not hold${notRun ? `, ${notRun} not run` : ''}`
      : `all ${results.length} checks hold`,
  );
  return lines;
}

export function checklistMarkdown(results: CheckResult[], titles: Record<string, string>, head: string[]): string {
  const rows = results.map((r) => {
    const n =
      r.status === 'pass'
        ? note(r)
        : r.status === 'not-run'
          ? 'not run'
          : `**${r.reason}**${r.fix ? `<br>fix: ${r.fix}` : ''}`;
    return `| ${mark[r.status]} | \`${r.id}\` | ${titles[r.id] ?? ''} | ${n.replace(/\|/g, '\\|')} |`;
  });
  return [...head, '', '| | check | what | result |', '|---|---|---|---|', ...rows, ''].join('\n');
}
