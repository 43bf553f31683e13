import { createHash, randomBytes } from 'node:crypto';
import { describe as describeCmd } from '../engine/command.ts';
import type { PlannedStep } from '../engine/step.ts';
import { UserError } from '../util/errors.ts';
import type { CliOptions } from './options.ts';

/** A run's id, its plan selected from the operator's flags, and the plan as data (--out, --plan). */

export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const d = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}`;
  const t = `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${d}-${t}-${randomBytes(2).toString('hex')}`;
}

export function factsFingerprint(stable: unknown): string {
  return createHash('sha256').update(canonicalJson(stable)).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** Keep the steps the operator selected with --from/--to/--only. */
export function selectSteps<T extends { step: { id: string } }>(
  plan: T[],
  o: Pick<CliOptions, 'from' | 'to' | 'only' | 'failAt'>,
): T[] {
  const ids = plan.map((p) => p.step.id);
  for (const [flag, id] of [
    ['--from', o.from],
    ['--to', o.to],
    ['--only', o.only],
    ['--fail-at', o.failAt],
  ] as const) {
    if (id && !ids.includes(id)) throw new UserError(`${flag} ${id}: no such step (steps: ${ids.join(', ')})`);
  }
  if (o.only) return plan.filter((p) => p.step.id === o.only);
  const from = o.from ? ids.indexOf(o.from) : 0;
  const to = o.to ? ids.indexOf(o.to) : ids.length - 1;
  if (from > to) throw new UserError(`--from ${o.from} comes after --to ${o.to}`);
  return plan.slice(from, to + 1);
}

export interface SavedPlan {
  runbook: string;
  runId: string;
  config: string;
  fingerprint: string;
  steps: { id: string; title: string; actions: { cmd: string; undo: string[] }[] }[];
}

export function planToJson(
  runbook: string,
  runId: string,
  config: string,
  fingerprint: string,
  plan: PlannedStep<unknown, unknown>[],
): SavedPlan {
  return {
    runbook,
    runId,
    config,
    fingerprint,
    steps: plan.map((p) => ({
      id: p.step.id,
      title: p.step.title,
      actions: p.actions.map((a) => ({ cmd: describeCmd(a.cmd), undo: (a.undo ?? []).map(describeCmd) })),
    })),
  };
}
