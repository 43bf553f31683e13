import type { Progress } from '../exec/executor.ts';
import { formatBytes } from '../util/bytes.ts';
import type { RunEvent } from '../engine/runner.ts';
import type { PlannedStep } from '../engine/step.ts';
import { actionLines, eventView } from './plan-view.ts';

export interface Reporter {
  event(e: RunEvent): void;
  /** Resolves when the view has caught up (listr's render loop). */
  done(): Promise<void>;
  line(text: string): void;
}

/** "412.3 MB of 1.0 GB, 88.2 MB/s, ETA 7s" from successive progress reports. */
export class RateMeter {
  private start: number;
  constructor(private now: () => number = Date.now) {
    this.start = now();
  }
  /**
   * Truthful about its estimate: the total is what the plan measured on disk, and an archive can be
   * larger (headers, small files) or smaller (sparse files): past the estimate it says "about" and
   * drops the ETA; at the end it gives the real total and the time taken.
   */
  format(p: Progress): string {
    const secs = Math.max((this.now() - this.start) / 1000, 0.001);
    const rate = p.bytes / secs;
    if (p.done)
      return `${p.label}: ${formatBytes(p.bytes)} in ${secs.toFixed(1)}s, ${formatBytes(rate)}/s${p.estimatedBytes !== undefined ? ` (estimated ${formatBytes(p.estimatedBytes)})` : ''}`;
    if (!p.totalBytes) return `${p.label}: ${formatBytes(p.bytes)}, ${formatBytes(rate)}/s`;
    if (p.bytes > p.totalBytes)
      return `${p.label}: ${formatBytes(p.bytes)} (estimated ${formatBytes(p.totalBytes)}), ${formatBytes(rate)}/s`;
    const eta = rate > 0 ? `, ETA ${Math.max(0, Math.ceil((p.totalBytes - p.bytes) / rate))}s` : '';
    return `${p.label}: ${formatBytes(p.bytes)} of about ${formatBytes(p.totalBytes)}, ${formatBytes(rate)}/s${eta}`;
  }
}

/** JSON lines on stdout, for machines. */
export class JsonReporter implements Reporter {
  event(e: RunEvent): void {
    process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), ...e })}\n`);
  }
  line(text: string): void {
    process.stdout.write(`${JSON.stringify({ type: 'info', message: text })}\n`);
  }
  async done(): Promise<void> {}
}

/** Plain lines: CI logs, interactive mode, and the printed dry-run plan. */
export class LineReporter implements Reporter {
  private meters = new Map<string, RateMeter>();
  private lastProgress = 0;
  private dry = false;
  constructor(
    private verbose = false,
    private write: (s: string) => void = (s) => process.stdout.write(s),
  ) {}
  line(text: string): void {
    this.write(`${text}\n`);
  }
  event(e: RunEvent): void {
    switch (e.type) {
      case 'step-start':
        this.line(`[${e.index + 1}/${e.total}] ${e.id}: ${e.title}`);
        break;
      case 'step-done':
        if (!this.dry) this.line(`      done in ${(e.ms / 1000).toFixed(1)}s`);
        break;
      case 'step-skipped':
        this.line(`      skip ${e.id} (${e.why})`);
        break;
      case 'action':
        if (e.dryRun) {
          this.dry = true;
          for (const l of actionLines(eventView(e), this.verbose, e.keptAfter)) this.line(l);
        } else {
          this.line(`    ${e.reads ? '·' : '+'} ${e.says}`);
          if (this.verbose) this.line(`        $ ${e.what}`);
        }
        break;
      case 'progress': {
        const m = this.meters.get(e.progress.label) ?? new RateMeter();
        this.meters.set(e.progress.label, m);
        const now = Date.now();
        const final = Boolean(e.progress.done);
        if (now - this.lastProgress > 2000 || final) {
          this.lastProgress = now;
          this.line(`      ${m.format(e.progress)}`);
        }
        break;
      }
      case 'step-failed':
        this.line(`  ✗ ${e.id} failed: ${e.error}`);
        if (this.verbose && e.detail) for (const l of e.detail.split('\n')) this.line(`      | ${l}`);
        break;
      case 'undo':
        this.line(undoLine(e));
        if (this.verbose) this.line(`        $ ${e.exact}`);
        break;
      case 'kept':
        this.line(keptLine(e));
        break;
      case 'info':
        this.line(e.message);
        break;
    }
  }
  async done(): Promise<void> {}
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * listr2 as a view of the engine's events: one task per step, with timings, and bytes/rate/ETA
 * as the task's output during transfers. The engine runs on its own; this only renders.
 */
export class ListrReporter implements Reporter {
  private ends = new Map<string, Deferred>();
  private skips = new Map<string, string>();
  private outputs = new Map<string, (s: string) => void>();
  private meters = new Map<string, RateMeter>();
  private list: Promise<unknown>;
  private after: string[] = [];

  private constructor(plan: PlannedStep<unknown, unknown>[], tty: boolean, listr2: typeof import('listr2')) {
    const { Listr: ListrCtor, PRESET_TIMER } = listr2;
    for (const p of plan) this.ends.set(p.step.id, deferred());
    const listr = new ListrCtor(
      plan.map((p) => ({
        title: `${p.step.id}: ${p.step.title}`,
        task: async (_ctx: unknown, task: { output: string; skip: (m?: string) => void }) => {
          this.outputs.set(p.step.id, (s) => {
            task.output = s;
          });
          await this.ends.get(p.step.id)!.promise;
          const why = this.skips.get(p.step.id);
          if (why) task.skip(`${p.step.id}: skipped (${why})`);
        },
      })),
      {
        concurrent: false,
        exitOnError: true,
        registerSignalListeners: false,
        renderer: tty ? 'default' : 'simple',
        fallbackRenderer: 'simple',
        rendererOptions: { timer: PRESET_TIMER, collapseSubtasks: false, outputBar: 1 } as never,
        fallbackRendererOptions: { timer: PRESET_TIMER } as never,
      },
    );
    this.list = listr.run().catch(() => undefined);
  }

  /** listr2 is loaded only when a TTY will show it. */
  static async create(plan: PlannedStep<unknown, unknown>[], tty: boolean): Promise<ListrReporter> {
    return new ListrReporter(plan, tty, await import('listr2'));
  }

  line(text: string): void {
    this.after.push(text);
  }

  event(e: RunEvent): void {
    switch (e.type) {
      case 'step-done':
        this.ends.get(e.id)?.resolve();
        break;
      case 'step-skipped':
        this.skips.set(e.id, e.why);
        this.ends.get(e.id)?.resolve();
        break;
      case 'step-failed':
        this.ends.get(e.id)?.reject(new Error(e.error));
        break;
      case 'progress': {
        const m = this.meters.get(e.progress.label) ?? new RateMeter();
        this.meters.set(e.progress.label, m);
        this.outputs.get(e.id)?.(m.format(e.progress));
        break;
      }
      case 'action':
        this.outputs.get(e.id)?.(e.says);
        break;
      case 'undo':
        this.after.push(undoLine(e));
        break;
      case 'kept':
        this.after.push(keptLine(e));
        break;
      case 'info':
        this.after.push(e.message);
        break;
      default:
        break;
    }
  }

  async done(): Promise<void> {
    // Steps never reached (a failure earlier) must not keep the list waiting.
    for (const d of this.ends.values()) d.reject(new Error('not run'));
    await this.list;
    for (const l of this.after) process.stdout.write(`${l}\n`);
    this.after = [];
  }
}

/** One undo of a rollback, in the operator's words. */
function undoLine(e: Extract<RunEvent, { type: 'undo' }>): string {
  return `  ↩ ${e.ok ? 'undone' : 'UNDO FAILED'} (${e.id}): ${e.what}${e.error ? `: ${e.error}` : ''}`;
}

/** A resource a rollback kept instead of destroying it. */
function keptLine(e: Extract<RunEvent, { type: 'kept' }>): string {
  return `  ⚑ kept (${e.id}): ${e.resources.map((r) => `${r.type} ${r.name}`).join(', ')}: it may hold the only copy of writes taken after the cutover`;
}
