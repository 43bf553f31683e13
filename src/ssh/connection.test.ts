import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
      SshConnection.connect({
        host: '127.0.0.1',
        port: 1,
        user: 'x',
        keyPath: '/etc/hostname',
        knownHostsPath: '/dev/null',
      }),
    ).rejects.toThrow(/cannot use the ssh key \/etc\/hostname/);
  });
  it('names the key file when it cannot be read', async () => {
    await expect(
      SshConnection.connect({
        host: '127.0.0.1',
        port: 1,
        user: 'x',
        keyPath: '/nonexistent/key',
        knownHostsPath: '/dev/null',
      }),
    ).rejects.toThrow(/cannot read the ssh key \/nonexistent\/key/);
  });
});

describe('a revoked host key (an ssh2 server here, with its own host key)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'revoked-'));
  const clientKey = join(dir, 'id');
  const hostKey = join(dir, 'host');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  const hostPub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = new Server({ hostKeys: [readFileSync(hostKey)] }, (client) => {
      client.on('authentication', (ctx) => ctx.accept()).on('error', () => {});
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server.close());
  const target = (knownHostsPath: string, acceptNewHostKey: boolean) => ({
    host: '127.0.0.1',
    port,
    user: 'x',
    keyPath: clientKey,
    knownHostsPath,
    acceptNewHostKey,
  });

  it("an unknown key is accepted with --accept-new-host-key (the refusals below are the key's)", async () => {
    const kh = join(dir, 'kh-new');
    const c = await SshConnection.connect(target(kh, true));
    c.close();
    expect(readFileSync(kh, 'utf8')).toBe(`[127.0.0.1]:${port} ${hostPub}\n`);
  });

  for (const accept of [false, true]) {
    const how = accept ? 'even with' : 'without';
    it(`is refused in one line naming file and line, ${how} --accept-new-host-key`, async () => {
      const kh = join(dir, `kh-${accept}`);
      const content = `# a comment\n@revoked * ${hostPub} compromised 2026-11\n`;
      writeFileSync(kh, content);
      const err = await SshConnection.connect(target(kh, accept)).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toBe(
        `host key of 127.0.0.1:${port} is REVOKED (@revoked at ${kh} line 2): refusing to` +
          ' connect, even with --accept-new-host-key. The host may be an impostor: verify its current key out of band,' +
          ' then add that key',
      );
      expect(readFileSync(kh, 'utf8')).toBe(content); // never remembered
    });
  }
});
