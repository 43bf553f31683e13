import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freezeWindow, keptSection } from './report.ts';

describe('freezeWindow', () => {
  const journal = (lines: object[]) => {
    const p = join(mkdtempSync(join(tmpdir(), 'report-')), 'journal.jsonl');
    writeFileSync(p, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    return p;
  };

  it('runs from the writer stopped to the backend answering through the open gate, not to the end of the step', () => {
    const p = journal([
      { t: '2026-11-22T05:00:00.000Z', type: 'action-done', step: 'cutover.stop-writer', index: 0, ms: 400 },
      { t: '2026-11-22T05:00:01.000Z', type: 'action-done', step: 'cutover.open', index: 0, ms: 100 },
      { t: '2026-11-22T05:00:03.250Z', type: 'action-done', step: 'cutover.open', index: 1, ms: 20 },
      { t: '2026-11-22T05:00:05.000Z', type: 'action-done', step: 'cutover.open', index: 2, ms: 1700 },
      { t: '2026-11-22T05:00:05.000Z', type: 'step-done', step: 'cutover.open' },
    ]);
    expect(freezeWindow(p)).toBe(3.25);
  });

  it('is undefined when the cutover did not get that far', () => {
    expect(freezeWindow(journal([{ t: '2026-11-22T05:00:00.000Z', type: 'action-done', step: 'cutover.stop-writer', index: 0, ms: 1 }]))).toBeUndefined();
  });
});

describe('keptSection', () => {
  it('names the volumes a rollback kept and how to remove them, and says nothing when none were', () => {
    const p = join(mkdtempSync(join(tmpdir(), 'report-')), 'journal.jsonl');
    writeFileSync(p, `${JSON.stringify({ t: '2026-11-22T05:00:00.000Z', type: 'action', step: 'volumes.create', index: 0, what: 'x', undo: [], creates: [{ type: 'volume', name: 'chatbot_pdfs' }] })}\n`);
    expect(keptSection(p)).toEqual([]);
    writeFileSync(p, `${JSON.stringify({ t: '2026-11-22T05:00:01.000Z', type: 'undo-kept', step: 'volumes.create', index: 0, kept: [{ type: 'volume', name: 'chatbot_pdfs' }] })}\n`, { flag: 'a' });
    expect(keptSection(p).join('\n')).toMatch(/`chatbot_pdfs`.*docker volume rm chatbot_pdfs/);
  });
});
