import { PassThrough } from 'node:stream';
import { remoteString, sudo } from '../engine/command.ts';
import { runStateDir } from '../engine/files.ts';
import type { SshConnection } from '../ssh/connection.ts';

/** Where the host keeps a run's journal (root's only, under cutover's host state). */
export const hostJournalPath = (runId: string) => `${runStateDir(runId)}/journal.jsonl`;

/**
 * The run's journal, mirrored on the host as it is written, so another machine with the same config and
 * key can --resume or --rollback the run if this one dies. Lines go down one long-lived `cat >>` channel:
 * no round trip per entry (the write freeze does not wait on it). The local journal stays the truth: on
 * start and after every reconnect the host copy is replaced by it whole, then appended to again.
 */
export class JournalMirror {
  private sink?: PassThrough;
  private done?: Promise<unknown>;

  constructor(
    private readonly conn: SshConnection,
    readonly runId: string,
  ) {}

  /** Replace the host copy with `content` (the local journal), then keep appending. */
  async sync(content: string): Promise<void> {
    this.drop();
    const path = hostJournalPath(this.runId);
    const put = remoteString(
      sudo([
        'sh',
        '-c',
        'umask 077; mkdir -p "$(dirname "$1")" && cat > "$1.part" && mv -f "$1.part" "$1"',
        'sh',
        path,
      ]),
    );
    const r = await this.conn.exec(put, { stdin: content });
    if (r.code !== 0) throw new Error(`cannot mirror the journal on the host (${path}): ${r.stderr.trim()}`);
    const sink = new PassThrough();
    this.sink = sink;
    this.done = this.conn
      .exec(remoteString(sudo(['sh', '-c', 'exec cat >> "$1"', 'sh', path])), { stdin: sink })
      .catch(() => {
        if (this.sink === sink) this.sink = undefined; // the connection went: the next sync (after a reconnect) starts over
      });
  }

  append(line: string): void {
    this.sink?.write(line);
  }

  /** Flush and close the appender (waits a few seconds at most: the local journal is the truth). */
  async close(): Promise<void> {
    const done = this.done;
    this.sink?.end();
    this.sink = undefined;
    if (done) await Promise.race([done, new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  private drop(): void {
    this.sink?.destroy();
    this.sink = undefined;
  }
}

/** The host's copy of a run's journal ('' when it has none). */
export async function readHostJournal(conn: SshConnection, runId: string): Promise<string> {
  const r = await conn.exec(
    remoteString(sudo(['sh', '-c', 'cat "$1" 2>/dev/null || true', 'sh', hostJournalPath(runId)])),
  );
  return r.code === 0 ? r.stdout : '';
}
