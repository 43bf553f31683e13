import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { SshConnection } from '../../src/ssh/connection.ts';
import { hostFingerprint } from '../support/fingerprint.ts';
import { ROOT, labScript, labSsh, labTarget } from '../support/lab.ts';
import { runIdOf, runbook } from '../support/run.ts';

/**
 * The host is a trust boundary (issue 16, defect 6): a revoked host key is refused; root never writes through a link
 * the app's account (ubuntu) planted; cutover's host state (/var/lib/cutover: backups) is root's only.
 */
const tmp = mkdtempSync(join(tmpdir(), 'host-trust-'));
function config(over: Record<string, any>, name: string): string {
  const base = parse(readFileSync(resolve(ROOT, 'runbooks/chm.lab.yaml'), 'utf8'));
  const merged: any = { ...base };
  for (const [k, v] of Object.entries(over)) {
    merged[k] = v && typeof v === 'object' && !Array.isArray(v) ? { ...base[k], ...v } : v;
  }
  const p = join(tmp, name);
  writeFileSync(p, stringify(merged));
  return p;
}
const sh = (script: string) => labSsh(script).trim();
/** Run as the app's account (ubuntu, the ssh user), never with sudo: what the app could do. */
const asApp = sh;

const CHATBOT = '/home/ubuntu/chm-chatbot';
const FRONTEND = `${CHATBOT}/chm-chatbot-frontend`;
const DEPLOY = '/home/ubuntu/chm-deploy';
/** Root's own files elsewhere on the host, where a planted link would send root's writes. */
const VICTIMS = '/var/tmp/cutover-host-trust';
/** Byte hash, mode, owner, mtime of every victim: must never change. */
const victimState = () => sh(`sudo sh -c 'cd ${VICTIMS} && for f in $(ls -A | sort); do
  printf "%s %s\\n" "$(sha256sum "$f" | cut -c1-64)" "$(stat -c "%n %a %U:%G %Y" "$f")"; done
  stat -c "dir %a %U:%G" .'`);

describe('the host is a trust boundary', () => {
  let original: Record<string, string>;
  beforeAll(() => {
    if (labScript('status').code !== 0) expect(labScript('reset').code).toBe(0);
    original = hostFingerprint();
  });

  it('a revoked host key: refused in one line naming file and line with or without --accept-new-host-key', async () => {
    const pinned = readFileSync(labTarget().knownHostsPath, 'utf8').split('\n')
      .find((l) => l.startsWith('[127.0.0.1]:2222 '))!;
    const kh = join(tmp, 'known_hosts');
    const content = `${pinned}\n@revoked [127.0.0.1]:2222 ${pinned.split(' ').slice(1).join(' ')}\n`;
    writeFileSync(kh, content);
    const want = `host key of 127.0.0.1:2222 is REVOKED (@revoked at ${kh} line 2): refusing to connect, even with`
      + ' --accept-new-host-key';
    for (const acceptNewHostKey of [false, true]) {
      const err = await SshConnection.connect({ ...labTarget({ knownHostsPath: kh }), acceptNewHostKey })
        .then(() => undefined, (e: Error) => e);
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
      expect(r.stdout + r.stderr).toContain(`refusing ${DEPLOY}: it is a symlink (to ${VICTIMS}); cutover makes and`
        + ' owns this');
      expect(victimState()).toBe(before); // not chowned to ubuntu, nothing written in it
      asApp(`rm ${DEPLOY} && mkdir -p ${DEPLOY} && ln -s ${VICTIMS} ${DEPLOY}/gate`);
      r = runbook('migrate-chm', ['--yes', '--only', 'deploy.upload']);
      expect(r.code, r.stdout + r.stderr).not.toBe(0);
      expect(r.stdout + r.stderr).toContain(`refusing ${DEPLOY}/gate/chatbot.conf: ${DEPLOY}/gate is a symlink owned by`
        + ' ubuntu, and root never writes through a link another account controls');
      expect(victimState()).toBe(before);
    } finally {
      asApp(`rm -rf ${DEPLOY}`);
      sh(`sudo rm -rf ${VICTIMS}`);
    }
    expect(hostFingerprint()).toEqual(original);
  });

  it('a migration with a link the app planted at every path root writes: no root file changes; backups root\'s', () => {
    // Each file root writes in the app's dirs, its old temp name, and the gate's temp name: a link to a root file.
    const deployFiles = ['compose.yaml', '.env', 'secrets.env', 'nginx.conf', 'gate/chatbot.conf']
      .map((f) => `${DEPLOY}/${f}`);
    const appFiles = [`${CHATBOT}/Dockerfile.backend`, `${CHATBOT}/.dockerignore`, `${FRONTEND}/Dockerfile`,
      `${FRONTEND}/.dockerignore`];
    const written = [...deployFiles, ...appFiles];
    // ${DEPLOY}/gate/chatbot.conf.part: the temp name the gate's writer (setGate) used before it wrote with nofollow.
    const gateTemp = [`${DEPLOY}/gate/chatbot.conf.part`];
    const links = [...written, ...written.map((p) => `${p}.cutover-part`), ...gateTemp];
    const victim = (p: string) => `${VICTIMS}/${p.replace(/\//g, '%')}`;
    sh(`sudo sh -c 'rm -rf ${VICTIMS}; mkdir -m 755 ${VICTIMS}
      for v in "$@"; do echo "root only: $v" > "$v"; chmod 640 "$v"; done' sh `
      + links.map((p) => `'${victim(p)}'`).join(' '));
    asApp(`mkdir -p ${DEPLOY}/gate`);
    for (const p of links) asApp(`ln -s '${victim(p)}' '${p}'`);
    const before = victimState();
    let open = ''; // a run not rolled back yet: the finally rolls it back, whatever failed
    try {
      const r = runbook('migrate-chm', ['--yes']);
      const runId = runIdOf(r);
      open = runId;
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(victimState()).toBe(before);
      // Each written path is now a regular file of the app's, with its mode: the link was replaced, never followed.
      const modes = sh(`stat -c '%n %F %a %U:%G' ${written.map((p) => `'${p}'`).join(' ')}`)
        .replaceAll('regular empty file', 'regular file').split('\n');
      const want = (p: string) => `${p} regular file ${p.endsWith('secrets.env') ? '600' : '644'} ubuntu:ubuntu`;
      expect(modes).toEqual(written.map(want));

      // cutover's host state: root:root 0700, so no other account reads a backup, whatever the files' own modes.
      expect(sh('sudo stat -c "%a %U:%G %F" /var/lib/cutover')).toBe('700 root:root directory');
      const archives = sh(`sudo find /var/lib/cutover/backups/${runId} -maxdepth 1 -type f`).split('\n')
        .filter(Boolean);
      expect(archives.map((a) => a.split('/').pop()))
        .toEqual(expect.arrayContaining(['chroma.tar', 'pdfs.tar', 'transcripts.tar', 'manifest.json']));
      for (const a of archives) {
        expect(sh(`sudo -n -u nobody cat '${a}' >/dev/null 2>&1 && echo READ || echo refused`), a).toBe('refused');
        expect(sh(`sudo -n -u nobody test -r '${a}' && echo READ || echo refused`), a).toBe('refused');
      }
      expect(sh('sudo -n -u nobody ls /var/lib/cutover >/dev/null 2>&1 && echo READ || echo refused')).toBe('refused');
      const rb = runbook('migrate-chm', ['--rollback', runId]);
      open = '';
      expect(rb.code, rb.stdout + rb.stderr).toBe(0);
      // The rollback put the planted links back as they were, and still wrote through none of them.
      expect(victimState()).toBe(before);
      const now = sh(`for l in ${written.map((p) => `'${p}'`).join(' ')}; do readlink "$l"; done`).split('\n');
      expect(now).toEqual(written.map(victim));
    } finally {
      // Each clean-up on its own: one that fails never hides the assertion that failed first.
      const tidy = (f: () => unknown) => {
        try { f(); } catch (e) { console.error(`clean-up: ${(e as Error).message}`); }
      };
      if (open) tidy(() => runbook('migrate-chm', ['--rollback', open]));
      // A rollback after the cutover keeps the data volumes on purpose; the operator removes them once satisfied.
      tidy(() => sh('docker volume rm -f chatbot_chroma chatbot_pdfs chatbot_transcripts >/dev/null'));
      tidy(() => sh('sudo rm -f /var/lib/cutover/kept-volumes/chatbot_*'));
      for (const p of links) tidy(() => asApp(`rm -f '${p}'`));
      tidy(() => asApp(`rm -rf ${DEPLOY}`));
      tidy(() => sh(`sudo rm -rf ${VICTIMS}`));
    }
    expect(hostFingerprint()).toEqual(original);
    expect(labScript('status').code).toBe(0);
  });
});
