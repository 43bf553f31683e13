import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { Writable } from 'node:stream';

/**
 * A file written as a stream and durable when the stream finishes: data is flushed to disk in the
 * background while it arrives (an fdatasync every `syncEvery` bytes, at most one at a time), so
 * the final fsync only waits for the tail instead of the whole file.
 */
export class SyncedFile extends Writable {
  private fh?: FileHandle;
  private unsynced = 0;
  private syncing?: Promise<void>;

  constructor(
    private readonly path: string,
    private readonly syncEvery = 64 << 20,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _construct(cb: (err?: Error | null) => void): void {
    open(this.path, 'w').then((fh) => {
      this.fh = fh;
      cb();
    }, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.fh!.writev(chunks.map((c) => c.chunk)).then((r) => {
      this.unsynced += r.bytesWritten;
      if (this.unsynced >= this.syncEvery && !this.syncing) {
        this.unsynced = 0;
        const fh = this.fh!;
        this.syncing = fh.datasync().finally(() => {
          this.syncing = undefined;
        });
        this.syncing.catch(() => {}); // surfaced by the final sync
      }
      cb();
    }, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    (async () => {
      await this.syncing?.catch(() => {});
      await this.fh!.sync();
    })().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    (async () => {
      await this.syncing?.catch(() => {});
      await fh?.close();
    })().then(
      () => cb(err),
      () => cb(err),
    );
  }
}
