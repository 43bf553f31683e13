import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PGTOOL_PARTS, uploadTool } from '../pg/ops.ts';
import { PROBE_PARTS } from '../stacks/steps.ts';
import { joinScript } from './host-tool.ts';

describe('joinScript (a host script kept in parts, run as one text)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'join-script-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = pathToFileURL(join(dir, 'x.ts'));
  writeFileSync(join(dir, 'a.py'), '# part 1/2 of s: head\n"""doc"""\nX = 1\n');
  writeFileSync(join(dir, 'b.py'), '# part 2/2 of s: tail\n\n\nprint(X)\n');

  it('joins the parts in the order given, each without its header line', () => {
    expect(joinScript(base, ['a.py', 'b.py'])).toBe('"""doc"""\nX = 1\n\n\nprint(X)\n');
  });

  it('refuses a part out of order, a part missing or extra, a part without its header', () => {
    expect(() => joinScript(base, ['b.py', 'a.py'])).toThrow(/b\.py: .*# part 1\/2 of/);
    expect(() => joinScript(base, ['a.py'])).toThrow(/a\.py: .*# part 1\/1 of/);
    writeFileSync(join(dir, 'c.py'), 'print(1)\n');
    expect(() => joinScript(base, ['a.py', 'c.py'])).toThrow(/c\.py/);
  });
});

const scripts = [
  {
    name: 'pgtool',
    parts: PGTOOL_PARTS,
    base: new URL('../pg/ops.ts', import.meta.url),
    text: uploadTool('20261123-010203-wxyz').content as string,
  },
  {
    name: 'probe',
    parts: PROBE_PARTS,
    base: new URL('../stacks/steps.ts', import.meta.url),
    text: joinScript(new URL('../stacks/steps.ts', import.meta.url), PROBE_PARTS),
  },
];

describe.each(scripts)('$name: its parts joined into one script', ({ parts, base, text }) => {
  it('is the text the host runs: every part, in order, headers dropped; it parses as Python', () => {
    expect(text).toBe(joinScript(base, parts));
    expect(text).not.toMatch(/^# part \d+\/\d+ of /m);
    const lengths = parts.map((p) => readFileSync(new URL(p, base), 'utf8').split('\n').length - 2);
    expect(text.split('\n').length - 1).toBe(lengths.reduce((a, b) => a + b, 0));
    const r = spawnSync('python3', ['-c', 'import ast,sys; ast.parse(sys.stdin.read())'], {
      input: text,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
  });

  it('starts with its docstring (settle knows an inline call by its first line) and ends with the table that runs the call', () => {
    expect(text.startsWith('"""')).toBe(true);
    expect(text).toMatch(/\}(\.get\(OP, lambda: fail\(f"unknown op \{OP\}"\)\))?(\[CHECK\])?\(\)\n$/);
  });
});

describe('pgtool joined runs', () => {
  it('an unknown op fails with its one line, exit 1 (every part was defined before the table ran)', () => {
    const tool = uploadTool('20261123-010203-wxyz').content as string;
    const r = spawnSync('python3', ['-c', tool, 'nope', JSON.stringify({ user: 'u' })], { encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([1, 'unknown op nope\n']);
  });
});
