import type { Command, CommandResult } from '../engine/command.ts';
import { describe } from '../engine/command.ts';

export interface Progress {
  label: string;
  bytes: number;
  /** Expected total: an estimate while running (disk usage is not tar size); the real total once done. */
  totalBytes?: number;
  /** With done: what the plan estimated. */
  estimatedBytes?: number;
  /** The transfer finished (bytes is the whole). */
  done?: boolean;
}

export interface RunOptions {
  onProgress?: (p: Progress) => void;
}

/** The one thing that runs commands. A dry run and a real run differ only in which one is used. */
export interface Executor {
  readonly dryRun: boolean;
  run(cmd: Command, opts?: RunOptions): Promise<CommandResult>;
  /** After a ConnectionLost: connect again (retrying for a while). False when the host stays unreachable. */
  reconnect?(): Promise<boolean>;
  close?(): void;
}

/**
 * A command that failed. The message is what the operator needs on one line: the last meaningful line
 * the command printed (our agent and our scripts end with one that names the problem and the fix),
 * with the exit code; the full command is in `command` (printed with --verbose, kept in the journal).
 */
export class CommandFailed extends Error {
  readonly command: string;
  constructor(
    readonly cmd: Command,
    readonly result: CommandResult,
  ) {
    const lines = (result.stderr || result.stdout)
      .trim()
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const last = lines.filter((l) => !/^(Traceback|File "|\^+$)/.test(l)).at(-1);
    super(
      last
        ? `${last} (exit ${result.code}${lines.length > 1 ? `; ${lines.length - 1} more lines with --verbose` : ''})`
        : `${describe(cmd)} exited ${result.code}`,
    );
    this.command = describe(cmd);
    this.name = 'CommandFailed';
  }
}

/** Prints (records) instead of running: what the dry run shows is exactly what would run. */
export class DryRunExecutor implements Executor {
  readonly dryRun = true;
  readonly printed: Command[] = [];
  async run(cmd: Command): Promise<CommandResult> {
    this.printed.push(cmd);
    return { code: 0, stdout: '', stderr: '' };
  }
}

type Responder = (cmd: Command) => Partial<CommandResult> | undefined;

/** For unit tests: records every command and answers from a scripted responder. */
export class RecordingExecutor implements Executor {
  readonly dryRun = false;
  readonly ran: Command[] = [];
  constructor(private respond: Responder = () => undefined) {}
  async run(cmd: Command): Promise<CommandResult> {
    this.ran.push(cmd);
    const r = this.respond(cmd) ?? {};
    const result = { code: r.code ?? 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    const ok = cmd.kind === 'remote' && cmd.okCodes ? cmd.okCodes : [0];
    if (!ok.includes(result.code)) throw new CommandFailed(cmd, result);
    return result;
  }
}
