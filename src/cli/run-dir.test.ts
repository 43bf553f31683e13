import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adoptHostJournal } from './run-dir.ts';

const RUN = '20261203-000000-abcd';
const lines = (n: number, tag = 'x') => Array.from({ length: n }, (_, i) => `{"i":${i},"tag":"${tag}"}\n`).join('');

describe("a run's journal here and on the host: one must extend the other", () => {
  const local = (content?: string) => {
    const p = join(mkdtempSync(join(tmpdir(), 'adopt-')), RUN, 'journal.jsonl');
    if (content !== undefined) {
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, content);
    }
    return p;
  };

  it("the host's, when it is longer and extends ours (another machine went on), or when we have none", async () => {
    const p = local(lines(2));
    await adoptHostJournal(p, lines(5), RUN);
    expect(readFileSync(p, 'utf8')).toBe(lines(5));
    const none = local();
    await adoptHostJournal(none, lines(3), RUN);
    expect(readFileSync(none, 'utf8')).toBe(lines(3));
  });

  it("ours, when it extends the host's (our mirror lagged)", async () => {
    const p = local(lines(5));
    await adoptHostJournal(p, lines(3), RUN);
    expect(readFileSync(p, 'utf8')).toBe(lines(5));
  });

  it('refused when they went different ways, whichever is longer: nothing written', async () => {
    const longer = local(lines(2) + lines(4, 'mine'));
    await expect(adoptHostJournal(longer, lines(2) + lines(1, 'theirs'), RUN)).rejects.toThrow(
      /the journal of run .* here .* and the host's differ/,
    );
    expect(readFileSync(longer, 'utf8')).toBe(lines(2) + lines(4, 'mine'));
    const shorter = local(lines(2) + lines(1, 'mine'));
    await expect(adoptHostJournal(shorter, lines(2) + lines(4, 'theirs'), RUN)).rejects.toThrow(/differ/);
    expect(existsSync(shorter)).toBe(true);
  });
});
