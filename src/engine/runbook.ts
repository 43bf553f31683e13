import type { z } from 'zod';
import type { RemoteCommand } from './command.ts';
import type { CommandResult } from './command.ts';
import type { SshTarget } from '../ssh/connection.ts';
import type { Step } from './step.ts';

/** Runs a read-only command for facts; in a dry run too. Never throws on a non-zero exit. */
export type Probe = (cmd: RemoteCommand) => Promise<CommandResult>;

export interface Problem {
  /** One line: what is wrong and how to fix it. */
  message: string;
}

export interface Facts<F> {
  facts: F;
  /** Preflight failures: the run stops before anything changes. */
  problems: Problem[];
  /** The runbook's work is already done on this host: nothing to do, and it says so. */
  alreadyDone?: string;
}

export interface Runbook<S extends z.ZodType, F> {
  name: string;
  /** How the operator runs it, in next-step hints (default: npx tsx runbooks/<name>.ts). */
  command?: string;
  /** How its config is named in the hints it prints (migrate.ts: --spec; default --config). */
  configFlag?: '--config' | '--spec';
  /** Used when --config is not given (relative to the project root). */
  defaultConfig: string;
  schema: S;
  /** Examples quoted in config errors, keyed by field path. */
  examples?: Record<string, string>;
  ssh(config: z.infer<S>): SshTarget;
  gather(
    probe: Probe,
    config: z.infer<S>,
    ctx: { runId: string; resuming: boolean; backupsDir: string },
  ): Promise<Facts<F>>;
  /** The stable part of the facts: a saved plan is refused when this changes. */
  fingerprint(facts: F): unknown;
  steps(config: z.infer<S>): Step<z.infer<S>, F>[];
  /**
   * Commands that find and stop what a lost session of this run left running on the host (a helper
   * container, an agent process), run before a --resume or --rollback touches anything, and after a
   * reconnect. Must be safe to run any time.
   */
  settle?(config: z.infer<S>, runId: string): import('./command.ts').Command[];
  /**
   * The run whose result this run builds on, from the facts (a cleanup: the migration that made the containers).
   * Recorded in the journal; that run's --rollback is refused while this one is not rolled back.
   */
  follows?(facts: F): string | undefined;
  /** Lines the dry run's summary adds for this runbook (the write freeze, what is never undone and why). */
  planNotes?(config: z.infer<S>, facts: F): string[];
  /** Lines for the operator after a rollback: what is left on purpose (backups, kept data). */
  leftAfterRollback?(config: z.infer<S>, runId: string): string[];
  /**
   * A read-only command whose stdout is one line saying where the app's users are served now, run when a
   * rollback stopped at an undo that failed (a half-undone run: the operator must know who answers them).
   */
  publicNow?(config: z.infer<S>): import('./command.ts').RemoteCommand;
  /** Written after a run (report.md), from the journal's notes and the facts. */
  report?(ctx: {
    config: z.infer<S>;
    facts: F;
    runId: string;
    runDir: string;
    timings: Record<string, number>;
  }): Promise<string> | string;
  /**
   * Printed after a run, its report written (ok or not): the result for the operator (a checklist), as
   * lines, or with --json one {"type":"summary","data"} line.
   */
  summary?(ctx: { config: z.infer<S>; facts: F; runId: string; runDir: string }): { lines: string[]; data?: unknown };
}
