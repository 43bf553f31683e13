/**
 * What the app itself sees change once it runs in a container behind nginx (#33): the client address, the
 * names it resolves, the user it runs as. One line each, printed in the dry run's summary and in the report,
 * so nothing about the app's world changes silently.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { lastOf, parseDockerfile } from '../audit/dockerfile.ts';
import { routed, volumeOwner } from './app.ts';
import type { Spec } from './spec.ts';
import { scheduleSays } from './schedule.ts';

/** A value that names this machine's loopback: inside a container that is the container itself. */
const LOOPBACK = /(^|[^\w.-])(localhost|127(\.\d{1,3}){3}|::1|\[::1\])(?![\w.-])/i;

/** The user a service's container runs as, and where that is decided. */
export function containerUser(s: Spec, key: string, cwd = process.cwd()): { user: string | undefined; from: string } {
  const build = s.services[key].build;
  if (!('dockerfile' in build)) return { user: undefined, from: `the image ${build.image}'s own USER` };
  let text: string;
  try {
    text = readFileSync(resolve(cwd, build.dockerfile), 'utf8');
  } catch {
    return { user: undefined, from: `${build.dockerfile} (not readable here)` };
  }
  const user = lastOf(parseDockerfile(build.dockerfile, text).finalChain, 'USER')?.args.trim();
  return { user: user || 'root', from: user ? `${build.dockerfile}'s USER` : `${build.dockerfile} sets no USER` };
}

/**
 * A writer whose Dockerfile runs it as a numeric user other than the owner of a volume it writes cannot write
 * there: [field, message] pairs for preflight (a named user is resolved only in the built image).
 */
export function userMismatches(s: Spec, cwd = process.cwd()): [string, string][] {
  const out: [string, string][] = [];
  for (const [dk, d] of Object.entries(s.data)) {
    if (d.kind === 'postgres') continue;
    const owner = volumeOwner(s, d).split(':')[0];
    for (const k of d.writers) {
      const { user, from } = containerUser(s, k, cwd);
      const uid = user?.split(':')[0];
      if (uid && /^\d+$/.test(uid) && uid !== owner)
        out.push([
          `services.${k}.uid`,
          `${k} runs as ${uid} (${from}) but ${dk}'s volume is given to ${owner}: set services.${d.writers[0]}.uid to ${uid}, or that USER to ${owner}`,
        ]);
    }
  }
  return out;
}

/** The lines: what each routed service sees as its client, what its names resolve to, who it runs as. */
export function appChanges(s: Spec, cwd = process.cwd()): string[] {
  const keys = Object.keys(s.services);
  const front = [...routed(s)];
  const lines = [
    `Client address: ${front.join(', ')} see${front.length === 1 ? 's' : ''} every request come from nginx's container on the compose network, not from the client; nginx sends X-Real-IP, X-Forwarded-For and X-Forwarded-Proto. An app that logs, limits or blocks by client address must trust those headers from nginx alone (one proxy hop).`,
    `Names: inside a container, localhost is that container; the other services are reached by their keys (${keys.join(', ')})${s.neighbours.length ? ` and the neighbours' containers by name on their networks (${s.neighbours.map((n) => n.project).join(', ')})` : ''}; the host's /etc/hosts entries are not there.`,
  ];
  for (const [k, v] of Object.entries(s.services))
    for (const [name, value] of Object.entries(v.env))
      if (LOOPBACK.test(value))
        lines.push(
          `  ${k}: env ${name}=${value} names loopback, which in its container is the container itself: name the service (one of ${keys.join(', ')}) instead, unless ${k} means itself.`,
        );
  const users = keys.map((k) => {
    const { user, from } = containerUser(s, k, cwd);
    return `${k} as ${user ?? 'the image decides'} (${from})`;
  });
  const owned = Object.entries(s.data)
    .filter(([, d]) => d.kind !== 'postgres')
    .map(([dk, d]) => `${dk} ${volumeOwner(s, d)}`);
  lines.push(
    `User: ${users.join(', ')}${owned.length ? `; the volumes' files are owned by ${owned.join(', ')}` : ''}; on bare metal the data was ${s.owner}'s.`,
  );
  for (const [k, v] of Object.entries(s.services))
    if (v.schedule) lines.push(`Schedule: ${scheduleSays(k, v.schedule)}.`);
  return lines;
}
