import { describe, expect, it } from 'vitest';
import { TextSink } from './text-sink.ts';

describe('TextSink', () => {
  it('keeps a multi-byte character whole when a chunk boundary splits it', () => {
    const bytes = Buffer.from('journal … → ünïcode\n', 'utf8');
    for (let cut = 1; cut < bytes.length; cut++) {
      const t = new TextSink(1 << 20);
      t.write(bytes.subarray(0, cut));
      t.write(bytes.subarray(cut));
      expect(t.end(), `cut at byte ${cut}`).toBe('journal … → ünïcode\n');
    }
  });

  it('stops growing past its cap, and says an incomplete last character as one U+FFFD', () => {
    const t = new TextSink(4);
    t.write(Buffer.from('abcdef'));
    t.write(Buffer.from('ghi'));
    expect(t.end()).toBe('abcdef');
    const u = new TextSink(100);
    u.write(Buffer.from([0x61, 0xe2, 0x80]));
    expect(u.end()).toBe('a\ufffd');
  });
});
