import { describe, expect, it } from 'vitest';
import { LineReporter, RateMeter } from './reporters.ts';

describe('progress is truthful', () => {
  it('below the estimate: of about, rate, ETA; past it: no "X of Y" with X > Y; at the end: the real total and the estimate', () => {
    let t = 0;
    const m = new RateMeter(() => t);
    t = 1000;
    expect(m.format({ label: 'pdfs.tar', bytes: 20_000_000, totalBytes: 50_000_000 })).toBe(
      'pdfs.tar: 20.0 MB of about 50.0 MB, 20.0 MB/s, ETA 2s',
    );
    t = 3000;
    expect(m.format({ label: 'pdfs.tar', bytes: 54_500_000, totalBytes: 53_200_000 })).toBe(
      'pdfs.tar: 54.5 MB (estimated 53.2 MB), 18.2 MB/s',
    );
    t = 4000;
    expect(
      m.format({
        label: 'pdfs.tar',
        bytes: 54_600_000,
        totalBytes: 54_600_000,
        estimatedBytes: 53_200_000,
        done: true,
      }),
    ).toBe('pdfs.tar: 54.6 MB in 4.0s, 13.7 MB/s (estimated 53.2 MB)');
  });

  it('a sparse archive far below its estimate ends on its real size, not "32.8 KB of 437 MB"', () => {
    let t = 0;
    const m = new RateMeter(() => t);
    t = 500;
    const end = m.format({
      label: 'chroma.tar',
      bytes: 32_800,
      totalBytes: 32_800,
      estimatedBytes: 437_000_000,
      done: true,
    });
    expect(end).toBe('chroma.tar: 32.8 KB in 0.5s, 65.6 KB/s (estimated 437.0 MB)');
    expect(end).not.toMatch(/of 437/);
  });

  it('the line reporter prints the final line of every transfer, and the words of each action (exact command only with --verbose)', () => {
    let out = '';
    const r = new LineReporter(false, (s) => {
      out += s;
    });
    r.event({ type: 'progress', id: 's', progress: { label: 'a.tar', bytes: 10, totalBytes: 10, done: true } });
    r.event({
      type: 'action',
      id: 's',
      what: "remote: sh -c 'x'",
      undo: [],
      says: 'do x',
      undoSays: [],
      reads: false,
      dryRun: false,
    });
    r.event({
      type: 'undo',
      id: 's',
      what: 'remove volume v, only if this run created it',
      exact: 'docker api: volumeRemoveOwned {}',
      ok: true,
    });
    expect(out).toMatch(
      /^ {6}a\.tar: 10 B in [\d.]+s, .*\n {4}\+ do x\n {2}↩ undone \(s\): remove volume v, only if this run created it\n$/,
    );
    let verbose = '';
    const v = new LineReporter(true, (s) => {
      verbose += s;
    });
    v.event({
      type: 'action',
      id: 's',
      what: "remote: sh -c 'x'",
      undo: [],
      says: 'do x',
      undoSays: [],
      reads: false,
      dryRun: false,
    });
    expect(verbose).toBe("    + do x\n        $ remote: sh -c 'x'\n");
  });
});
