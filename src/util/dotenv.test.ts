import { describe, expect, it } from 'vitest';
import { dotenvLine, dotenvQuote } from './dotenv.ts';

describe('env file lines compose reads literally', () => {
  it('escapes exactly backslash, double quote, $ and line breaks; everything else is as is', () => {
    expect(dotenvQuote('plain')).toBe('"plain"');
    expect(dotenvQuote(`a$HOME 'x' "y" #z \\w\nend\r`)).toBe(`"a\\$HOME 'x' \\"y\\" #z \\\\w\\nend\\r"`);
    expect(dotenvLine('OPENAI_API_KEY', 'sk-1')).toBe('OPENAI_API_KEY="sk-1"\n');
  });
  it('refuses what no env file can hold', () => {
    expect(() => dotenvQuote('a\0b')).toThrow(/NUL/);
    expect(() => dotenvLine('1BAD', 'x')).toThrow(/not a shell name/);
  });
});
