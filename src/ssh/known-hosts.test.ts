import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { knownHostsName, rememberHostKey, revokedAt, verifyHostKey } from './known-hosts.ts';

function makeKey(dir: string, name: string): { line: string; blob: Buffer } {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
  const pub = readFileSync(join(dir, `${name}.pub`), 'utf8')
    .trim()
    .split(/\s+/);
  return { line: `${pub[0]} ${pub[1]}`, blob: Buffer.from(pub[1], 'base64') };
}

describe('known_hosts verification', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kh-'));
  const good = makeKey(dir, 'good');
  const bad = makeKey(dir, 'bad');

  it('names non-22 ports as [host]:port', () => {
    expect(knownHostsName('10.0.0.1', 22)).toBe('10.0.0.1');
    expect(knownHostsName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
  });

  it('matches a plain [host]:port entry and refuses a different key', () => {
    const f = join(dir, 'plain');
    writeFileSync(f, `[127.0.0.1]:2222 ${good.line}\n`);
    expect(verifyHostKey(f, '127.0.0.1', 2222, good.blob)).toBe('match');
    expect(verifyHostKey(f, '127.0.0.1', 2222, bad.blob)).toBe('changed');
    expect(verifyHostKey(f, '127.0.0.1', 22, good.blob)).toBe('unknown');
  });

  it('understands hashed entries (ssh-keygen -H)', () => {
    const f = join(dir, 'hashed');
    writeFileSync(f, `[127.0.0.1]:2222 ${good.line}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', f], { stdio: 'ignore' });
    expect(readFileSync(f, 'utf8')).toMatch(/^\|1\|/);
    expect(verifyHostKey(f, '127.0.0.1', 2222, good.blob)).toBe('match');
    expect(verifyHostKey(f, '127.0.0.1', 2222, bad.blob)).toBe('changed');
  });

  it('remembers a newly accepted key', () => {
    const f = join(dir, 'new');
    expect(verifyHostKey(f, 'example', 2200, good.blob)).toBe('unknown');
    rememberHostKey(f, 'example', 2200, good.blob);
    expect(verifyHostKey(f, 'example', 2200, good.blob)).toBe('match');
  });

  it('a key marked @revoked is revoked, whatever else the file says and whatever host the line names', () => {
    const f = join(dir, 'revoked');
    const lines = [
      '# pinned',
      `[127.0.0.1]:2222 ${good.line}`,
      `@revoked * ${bad.line}`,
      `@revoked other.example ${good.line}`,
    ];
    writeFileSync(f, `${lines.join('\n')}\n`);
    expect(revokedAt(f, good.blob)).toBe(4);
    expect(revokedAt(f, bad.blob)).toBe(3);
    expect(verifyHostKey(f, '127.0.0.1', 2222, good.blob)).toBe('revoked'); // also pinned by line 2: revoked wins
    expect(verifyHostKey(f, 'new.example', 22, bad.blob)).toBe('revoked'); // unknown host, revoked key: never "unknown"
    writeFileSync(f, `[127.0.0.1]:2222 ${good.line}\n@revoked * ${bad.line}\n`);
    expect(verifyHostKey(f, '127.0.0.1', 2222, good.blob)).toBe('match');
    expect(revokedAt(join(dir, 'absent'), good.blob)).toBeUndefined();
  });
});
