import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SshConnection } from './connection.ts';

describe('SshConnection errors (no server needed)', () => {
  const key = join(mkdtempSync(join(tmpdir(), 'key-')), 'id');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  it('names the port and the fix when nothing listens', async () => {
    await expect(
      SshConnection.connect({ host: '127.0.0.1', port: 1, user: 'x', keyPath: key, knownHostsPath: '/dev/null' }),
    ).rejects.toThrow(/cannot reach 127\.0\.0\.1:1 \(connection refused\): check `ssh.host`\/`ssh.port`/);
  });
  it('says a file that is not a key is not usable', async () => {
    await expect(
      SshConnection.connect({ host: '127.0.0.1', port: 1, user: 'x', keyPath: '/etc/hostname', knownHostsPath: '/dev/null' }),
    ).rejects.toThrow(/cannot use the ssh key \/etc\/hostname/);
  });
  it('names the key file when it cannot be read', async () => {
    await expect(
      SshConnection.connect({ host: '127.0.0.1', port: 1, user: 'x', keyPath: '/nonexistent/key', knownHostsPath: '/dev/null' }),
    ).rejects.toThrow(/cannot read the ssh key \/nonexistent\/key/);
  });
});
