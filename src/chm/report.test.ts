import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { loadConfig } from '../engine/config.ts';
import { chmSchema } from './config.ts';
import { chmReport, freezeWindow, keptSection, runOutcome } from './report.ts';

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

describe('the report of a run that failed', () => {
  const at = (i: number) => `2026-11-22T05:00:${String(i).padStart(2, '0')}.000Z`;
  const write = (lines: object[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'report-'));
    writeFileSync(join(dir, 'journal.jsonl'), lines.map((l, i) => JSON.stringify({ t: at(i), ...l })).join('\n') + '\n');
    return dir;
  };
  const c = loadConfig(resolve(import.meta.dirname, '../../runbooks/chm.lab.yaml'), chmSchema);
  const facts = { compose: 'v2', mediahub: ['a', 'b'] } as never;

  it('says what failed, that it was rolled back and where the details are, and claims only the checks that passed', () => {
    const dir = write([
      { type: 'run', runId: 'R', runbook: 'migrate-chm', operator: 'o', config: 'c', startedAt: at(0), mode: 'run' },
      { type: 'step-done', step: 'backup.stream', ms: 10 },
      { type: 'step-done', step: 'volumes.restore', ms: 10 },
      { type: 'run-failed', step: 'deploy.up', error: 'chatbot-backend not healthy after 120 s (exit 1)' },
      { type: 'undo-done', step: 'volumes.create', index: 0 },
      { type: 'run-rolled-back' },
    ]);
    const md = chmReport({ config: c, facts, runId: 'R', runDir: dir, timings: {} });
    expect(md).toContain('result: FAILED at deploy.up; rolled back');
    expect(md).toMatch(/## What failed\nStep `deploy\.up`: chatbot-backend not healthy after 120 s \(exit 1\)/);
    expect(md).toContain(`${dir}/run.log`);
    expect(md).toContain('volumes.restore: every restored file equals the manifest');
    expect(md).not.toMatch(/checked in verify\.endpoints|verify\.parity: |cutover\.parity: |\*\*\d+\.\d+ s\*\*/);
    expect(md).toContain('- MediaHub containers unchanged: not reached');
  });

  it('a rollback that stopped, and a resumed run that then finished, are told apart', () => {
    const stopped = write([
      { type: 'run', mode: 'run' }, { type: 'run-failed', step: 'cutover.delta', error: 'x' },
      { type: 'undo-failed', step: 'cutover.start', index: 1, error: 'disk full' },
    ]);
    expect(runOutcome(JSON.parse(`[${''}]`)).result).toBe('stopped after the start as asked (resumable)');
    const o = runOutcome(readJournal(stopped));
    expect(o.result).toBe('FAILED at cutover.delta; rollback STOPPED');
    const resumed = write([
      { type: 'run', mode: 'run' }, { type: 'run-failed', step: 'backup.stream', error: 'killed' },
      { type: 'run', mode: 'resume' }, { type: 'step-done', step: 'finish', ms: 1 }, { type: 'run-done' },
    ]);
    expect(runOutcome(readJournal(resumed)).result).toBe('success');
  });
});

function readJournal(dir: string) {
  return readFileSync(join(dir, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}
