import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** How known_hosts names a host: plain for port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type and base64 blob of a raw SSH public key (the wire format ssh2 hands us). */
export function keyFromBlob(blob: Buffer): { type: string; base64: string } {
  const len = blob.readUInt32BE(0);
  return { type: blob.subarray(4, 4 + len).toString('ascii'), base64: blob.toString('base64') };
}

/**
 * Keys known for a host, read with `ssh-keygen -F`, which understands hashed entries and
 * `[host]:port` names exactly as OpenSSH does.
 */
export function knownKeys(file: string, host: string, port: number): string[] {
  if (!existsSync(file)) return [];
  let out: string;
  try {
    out = execFileSync('ssh-keygen', ['-F', knownHostsName(host, port), '-f', file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return []; // exit 1: no entry
  }
  return out
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.trim().split(/\s+/))
    .map((f) => (f[0] === '@cert-authority' || f[0] === '@revoked' ? '' : (f[2] ?? '')))
    .filter(Boolean);
}

/**
 * The line number of a `@revoked` entry in known_hosts for this key, if any. Whatever host pattern the line names: a
 * revoked key is compromised, refused for every host (stricter than OpenSSH, which scopes the line by its pattern).
 */
export function revokedAt(file: string, blob: Buffer): number | undefined {
  if (!existsSync(file)) return undefined;
  const base64 = blob.toString('base64');
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => {
    const f = l.trim().split(/\s+/);
    return f[0] === '@revoked' && f[3] === base64;
  });
  return i < 0 ? undefined : i + 1;
}

export type HostKeyVerdict = 'match' | 'unknown' | 'changed' | 'revoked';

/** Revoked first: a key listed `@revoked` is refused even when a plain line for the host also lists it. */
export function verifyHostKey(file: string, host: string, port: number, blob: Buffer): HostKeyVerdict {
  if (revokedAt(file, blob) !== undefined) return 'revoked';
  const keys = knownKeys(file, host, port);
  if (keys.length === 0) return 'unknown';
  return keys.includes(keyFromBlob(blob).base64) ? 'match' : 'changed';
}

export function rememberHostKey(file: string, host: string, port: number, blob: Buffer): void {
  const { type, base64 } = keyFromBlob(blob);
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${knownHostsName(host, port)} ${type} ${base64}\n`, { mode: 0o600 });
}
