import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** No source file under src/ is over this many lines: split it by concern (a host script into parts joined by joinScript). */
const MAX_LINES = 400;
const SRC = fileURLToPath(new URL('..', import.meta.url));

/** Every *.ts and *.py under DIR, at any depth. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === '__pycache__' ? [] : sources(p);
    return e.isFile() && /\.(ts|py)$/.test(e.name) ? [p] : [];
  });
}

/** Lines as `wc -l` counts them, plus a last line without its newline. */
const lineCount = (text: string) => text.split('\n').length - (text.endsWith('\n') || text === '' ? 1 : 0);

describe('source file size', () => {
  it(`no source file under src/ (ts, py) is over ${MAX_LINES} lines`, () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(0);
    const over = files
      .map((f) => ({ file: relative(join(SRC, '..'), f), lines: lineCount(readFileSync(f, 'utf8')) }))
      .filter((f) => f.lines > MAX_LINES)
      .sort((a, b) => b.lines - a.lines)
      .map((f) => `${f.file}: ${f.lines} lines`);
    expect(over, `over ${MAX_LINES} lines:\n${over.join('\n')}`).toEqual([]);
  });

  it('counts lines as wc -l does', () => {
    expect([lineCount(''), lineCount('a\n'), lineCount('a\nb'), lineCount('a\nb\n\n')]).toEqual([0, 1, 2, 3]);
  });
});
