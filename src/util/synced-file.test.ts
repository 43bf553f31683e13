import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { SyncedFile } from './synced-file.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('SyncedFile', () => {
  it('writes every byte in order across background syncs', async () => {
    const chunks = Array.from({ length: 200 }, (_, i) => randomBytes(1000 + i * 37));
    const path = join(mkdtempSync(join(tmpdir(), 'synced-')), 'out.bin');
    await pipeline(Readable.from(chunks), new SyncedFile(path, 16 << 10));
    expect(sha(readFileSync(path))).toBe(sha(Buffer.concat(chunks)));
  });

  it('fails the stream when the file cannot be opened', async () => {
    await expect(
      pipeline(Readable.from([Buffer.from('x')]), new SyncedFile('/nonexistent-dir/out.bin')),
    ).rejects.toThrow(/ENOENT/);
  });
});
