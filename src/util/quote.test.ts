import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shJoin, shQuote } from './quote.ts';

/** Round-trip through a real sh: what the remote shell parses must be the argv we meant. */
function roundTrip(argv: string[]): string[] {
  const out = execFileSync('sh', ['-c', `${shJoin(['printf', '%s\\0', ...argv])}`]);
  return out.toString().split('\0').slice(0, -1);
}

describe('shQuote', () => {
  it('leaves plain words alone and quotes the rest', () => {
    expect(shQuote('docker')).toBe('docker');
    expect(shQuote('/var/lib/x.tar')).toBe('/var/lib/x.tar');
    expect(shQuote('')).toBe("''");
    expect(shQuote('a b')).toBe("'a b'");
    expect(shQuote("it's")).toBe("'it'\\''s'");
  });

  const nasty = [
    'Annual Report 2023.pdf',
    "O'Brien's notes.pdf",
    '$HOME and $(rm -rf /) and `id`',
    'line1\nline2',
    '-rf',
    '--leading-dashes',
    'Ünternehmens Übersicht.pdf',
    '*.pdf',
    'a;b|c&d>e<f',
    '"double"',
    '\\back\\slash',
    '',
    '~user',
    '!bang',
  ];
  it.each(nasty)('survives a real sh unchanged: %j', (arg) => {
    expect(roundTrip([arg])).toEqual([arg]);
  });

  it('keeps argv boundaries for many args at once', () => {
    expect(roundTrip(nasty)).toEqual(nasty);
  });

  it('refuses an empty argv', () => {
    expect(() => shJoin([])).toThrow(/empty argv/);
  });
});
