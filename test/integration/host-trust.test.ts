import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SshConnection } from '../../src/ssh/connection.ts';
import { chmSpec } from '../support/chm-spec.ts';
import { hostFingerprint } from '../support/fingerprint.ts';
import { labScript, labSsh, labTarget } from '../support/lab.ts';
import { DEPLOY, VICTIMS, victimState } from '../support/planted.ts';
import { runbook } from '../support/run.ts';

/**
 * The host is a trust boundary (issue 16, defect 6): a revoked host key is refused; a deploy dir that is a planted
 * link is refused. A migration with a link planted at every path root writes, and cutover's host state being
 * root's only: nothing-lost.test.ts's first test (support/planted.ts).
 */
const tmp = mkdtempSync(join(tmpdir(), 'host-trust-'));
const config = chmSpec;
const sh = (script: string) => labSsh(script).trim();
/** Run as the app's account (ubuntu, the ssh user), never with sudo: what the app could do. */
const asApp = sh;

describe('the host is a trust boundary', () => {
  let original: Record<string, string>;
  beforeAll(() => {
    if (labScript('status').code !== 0) expect(labScript('reset').code).toBe(0);
    original = hostFingerprint();
  });

  it('a revoked host key: refused in one line naming file and line with or without --accept-new-host-key', async () => {
    const pinned = readFileSync(labTarget().knownHostsPath, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('[127.0.0.1]:2222 '))!;
    const kh = join(tmp, 'known_hosts');
    const content = `${pinned}\n@revoked [127.0.0.1]:2222 ${pinned.split(' ').slice(1).join(' ')}\n`;
    writeFileSync(kh, content);
    const want =
      `host key of 127.0.0.1:2222 is REVOKED (@revoked at ${kh} line 2): refusing to connect, even with` +
      ' --accept-new-host-key';
    for (const acceptNewHostKey of [false, true]) {
      const err = await SshConnection.connect({ ...labTarget({ knownHostsPath: kh }), acceptNewHostKey }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toContain(want);
      const cfg = config({ ssh: { knownHosts: kh } }, 'revoked.yaml');
      const accept = acceptNewHostKey ? ['--accept-new-host-key'] : [];
      const r = runbook('migrate-chm', ['--dry-run', '--config', cfg, ...accept]);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(want);
      expect(readFileSync(kh, 'utf8')).toBe(content); // never remembered as a new key
    }
  });

  it('a deploy dir, or a dir on the way, that is a link the app planted: refused in one line, nothing written', () => {
    sh(`sudo sh -c 'rm -rf ${VICTIMS}; mkdir -m 755 ${VICTIMS}; echo "root only" > ${VICTIMS}/compose.yaml
      chmod 640 ${VICTIMS}/*'`);
    try {
      const before = victimState();
      asApp(`ln -s ${VICTIMS} ${DEPLOY}`);
      let r = runbook('migrate-chm', ['--yes', '--only', 'deploy.upload']);
      expect(r.code, r.stdout + r.stderr).not.toBe(0);
      expect(r.stdout + r.stderr).toContain(
        `refusing ${DEPLOY}: it is a symlink (to ${VICTIMS}); cutover makes and` + ' owns this',
      );
      expect(victimState()).toBe(before); // not chowned to ubuntu, nothing written in it
      asApp(`rm ${DEPLOY} && mkdir -p ${DEPLOY} && ln -s ${VICTIMS} ${DEPLOY}/gate`);
      r = runbook('migrate-chm', ['--yes', '--only', 'deploy.upload']);
      expect(r.code, r.stdout + r.stderr).not.toBe(0);
      expect(r.stdout + r.stderr).toContain(
        `refusing ${DEPLOY}/gate/app.conf: ${DEPLOY}/gate is a symlink owned by` +
          ' ubuntu, and root never writes through a link another account controls',
      );
      expect(victimState()).toBe(before);
    } finally {
      asApp(`rm -rf ${DEPLOY}`);
      sh(`sudo rm -rf ${VICTIMS}`);
    }
    expect(hostFingerprint()).toEqual(original);
  });
});
