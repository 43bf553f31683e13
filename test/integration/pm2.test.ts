import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemoteCommand } from '../../src/engine/command.ts';
import { SshExecutor } from '../../src/exec/ssh-executor.ts';
import { serviceCommands } from '../../src/migrate/services.ts';
import { SshConnection } from '../../src/ssh/connection.ts';
import { hostFingerprint } from '../support/fingerprint.ts';
import { SSH_DIR, labSsh } from '../support/lab.ts';

/**
 * pm2 for real, on the lab's own pm2 (CHM's frontend, as the lab runs it): keeping an app from starting at
 * boot and putting that back never starts or deletes a process. A rollback undoes newest first, so an
 * enable that started the app would run a bare-metal writer before the sync-back copied the containers'
 * writes back (#32, defect 4). Each result read with pm2 itself and the dump's bytes.
 */
const NAME = 'chatbot-frontend';
const ECOSYSTEM = '/home/ubuntu/chm-chatbot/chm-chatbot-frontend/ecosystem.config.cjs';
const runId = '20261207-120000-pm2t';
const status = () =>
  labSsh(
    `pm2 jlist | node -e 'let j="";process.stdin.on("data",d=>j+=d).on("end",()=>{const p=JSON.parse(j).find(a=>a.name==="${NAME}");console.log(p?p.pm2_env.status:"unknown")})'`,
  ).trim();
const dump = () => labSsh('sha256sum < ~/.pm2/dump.pm2').trim();
const dumpNames = () =>
  labSsh(
    `node -e 'console.log(JSON.parse(require("fs").readFileSync(process.env.HOME+"/.pm2/dump.pm2","utf8")).map(a=>a.name).join(" "))'`,
  ).trim();

describe('pm2: kept from boot and put back, nothing started', () => {
  let conn: SshConnection;
  let exec: SshExecutor;
  let original: Record<string, string>;
  const run = async (c: RemoteCommand) => {
    const r = await exec.run(c);
    expect(r.code, `${c.says}: ${r.stderr}`).toBe(0);
    return r;
  };
  const svc = serviceCommands({ manager: 'pm2', name: NAME, ecosystem: ECOSYSTEM }, 'ubuntu', runId);

  beforeAll(async () => {
    original = hostFingerprint();
    conn = await SshConnection.connect({
      host: '127.0.0.1',
      port: 2222,
      user: 'ubuntu',
      keyPath: resolve(SSH_DIR, 'id_ed25519'),
      knownHostsPath: resolve(SSH_DIR, 'known_hosts'),
    });
    exec = new SshExecutor(conn);
  });
  afterAll(async () => {
    labSsh(`sudo rm -rf /var/lib/cutover/runs/${runId}`);
    conn?.close();
  });

  it('disable takes it out of the saved dump only; enable puts the dump back byte for byte and leaves it stopped; start starts it', async () => {
    expect(status()).toBe('online');
    const before = dump();
    expect(dumpNames().split(' ')).toContain(NAME);

    await run(svc.stop);
    await run(svc.disable);
    expect(dumpNames().split(' ')).not.toContain(NAME); // pm2 resurrect at boot will not start it
    expect(status()).toBe('stopped'); // still known to pm2: nothing deleted
    await run(svc.disable); // a resumed step: the dump kept the first time is the one put back
    await run(svc.enable);
    expect(dump()).toBe(before);
    expect(status()).toBe('stopped'); // an undo of the boot list never starts a writer
    await run(svc.start);
    expect(status()).toBe('online');
    expect(hostFingerprint()).toEqual(original);
  });

  it('start from the ecosystem file when pm2 no longer knows the app (its daemon restarted)', async () => {
    await run(svc.stop);
    await run(svc.disable);
    labSsh(`pm2 delete ${NAME} >/dev/null`); // what a reboot does to an app its dump no longer lists
    expect(status()).toBe('unknown');
    await run(svc.enable);
    await run(svc.start);
    expect(status()).toBe('online');
    expect(hostFingerprint()).toEqual(original);
  });
});
