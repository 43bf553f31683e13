import { expect } from 'vitest';
import { labSsh } from './lab.ts';

/**
 * Links the app's account (ubuntu) plants at every path root writes during a CHM migration, each to a
 * root-only file elsewhere on the host: root must replace each link, never write through it, and a
 * rollback puts the links back as they were (issue 16, defect 6).
 */
const sh = (script: string) => labSsh(script).trim();
/** Run as the app's account (ubuntu, the ssh user), never with sudo: what the app could do. */
const asApp = sh;

const CHATBOT = '/home/ubuntu/chm-chatbot';
const FRONTEND = `${CHATBOT}/chm-chatbot-frontend`;
export const DEPLOY = '/home/ubuntu/chm-deploy';
/** Root's own files elsewhere on the host, where a planted link would send root's writes. */
export const VICTIMS = '/var/tmp/cutover-host-trust';
/** Byte hash, mode, owner, mtime of every victim: must never change. */
export const victimState = () =>
  sh(`sudo sh -c 'cd ${VICTIMS} && for f in $(ls -A | sort); do
  printf "%s %s\\n" "$(sha256sum "$f" | cut -c1-64)" "$(stat -c "%n %a %U:%G %Y" "$f")"; done
  stat -c "dir %a %U:%G" .'`);

// Each file root writes in the app's dirs, its old temp name, and the gate's temp name: a link to a root file.
const deployFiles = ['compose.yaml', 'nginx.conf', 'gate/app.conf', 'Dockerfile.backend', 'Dockerfile.frontend'].map(
  (f) => `${DEPLOY}/${f}`,
);
// The build contexts' .dockerignore (the legacy builder reads it only there); the Dockerfiles are in the deploy dir.
const appFiles = [`${CHATBOT}/.dockerignore`, `${FRONTEND}/.dockerignore`];
const written = [...deployFiles, ...appFiles];
// ${DEPLOY}/gate/app.conf.part: the temp name the gate's writer (setGate) used before it wrote with nofollow.
const links = [...written, ...written.map((p) => `${p}.cutover-part`), `${DEPLOY}/gate/app.conf.part`];
const victim = (p: string) => `${VICTIMS}/${p.replace(/\//g, '%')}`;

/** Plant the links and their root-only targets; returns the targets' state, which must never change. */
export function plantLinks(): string {
  sh(`sudo sh -c 'rm -rf ${VICTIMS}; mkdir -m 755 ${VICTIMS}
    for v in "$@"; do echo "root only: $v" > "$v"; chmod 640 "$v"; done' sh ${links.map((p) => `'${victim(p)}'`).join(' ')}`);
  asApp(`mkdir -p ${DEPLOY}/gate`);
  for (const p of links) asApp(`ln -s '${victim(p)}' '${p}'`);
  return victimState();
}

/** After the migration: each written path is a regular file of the app's, with its mode; the link was replaced, never followed. */
export function expectLinksReplaced(before: string) {
  expect(victimState()).toBe(before);
  const modes = sh(`stat -c '%n %F %a %U:%G' ${written.map((p) => `'${p}'`).join(' ')}`)
    .replaceAll('regular empty file', 'regular file')
    .split('\n');
  const want = (p: string) => `${p} regular file ${p.endsWith('.env') ? '600' : '644'} ubuntu:ubuntu`;
  expect(modes).toEqual(written.map(want));
}

/** After the rollback: the planted links are back as they were, and root still wrote through none of them. */
export function expectLinksBack(before: string) {
  expect(victimState()).toBe(before);
  const now = sh(`for l in ${written.map((p) => `'${p}'`).join(' ')}; do readlink "$l"; done`).split('\n');
  expect(now).toEqual(written.map(victim));
}

/** cutover's host state: root:root 0700, so no other account reads a backup, whatever the files' own modes. */
export function expectHostStateRootOnly(runId: string) {
  expect(sh('sudo stat -c "%a %U:%G %F" /var/lib/cutover')).toBe('700 root:root directory');
  const archives = sh(`sudo find /var/lib/cutover/backups/${runId} -maxdepth 1 -type f`).split('\n').filter(Boolean);
  expect(archives.map((a) => a.split('/').pop())).toEqual(
    expect.arrayContaining(['chroma.tar', 'pdfs.tar', 'transcripts.tar', 'manifest.json']),
  );
  for (const a of archives) {
    expect(sh(`sudo -n -u nobody cat '${a}' >/dev/null 2>&1 && echo READ || echo refused`), a).toBe('refused');
    expect(sh(`sudo -n -u nobody test -r '${a}' && echo READ || echo refused`), a).toBe('refused');
  }
  expect(sh('sudo -n -u nobody ls /var/lib/cutover >/dev/null 2>&1 && echo READ || echo refused')).toBe('refused');
}

/** Remove the links, the deploy dir and the victims: each on its own, so one that fails never hides the assertion that failed first. */
export function removeLinks() {
  const tidy = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      console.error(`clean-up: ${(e as Error).message}`);
    }
  };
  for (const p of links) tidy(() => asApp(`rm -f '${p}'`));
  tidy(() => asApp(`rm -rf ${DEPLOY}`));
  tidy(() => sh(`sudo rm -rf ${VICTIMS}`));
}
