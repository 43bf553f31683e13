/**
 * The host's own nginx, where it already serves the spec's host names (#33): preflight reads its whole
 * configuration (`nginx -T`, as root, read-only) and says, one line each, every setting the new nginx would
 * change for a route: the request size it takes, its timeouts, its buffering, and where it sends the
 * requests. Nothing here refuses a run: the operator decides whether the spec's value or the host's is the
 * one the app needs (most often the host's: set the route's field to it).
 */
import { sudo, type RemoteCommand } from '../engine/command.ts';
import type { Spec } from './spec.ts';

/** `nginx -T` when an nginx runs on the host, else nothing (exit 0 either way). */
export const hostNginxProbe = (): RemoteCommand =>
  sudo(
    [
      'sh',
      '-c',
      // the host's own nginx, by its pid file (an nginx in a container has its own /run): else nothing to read
      'command -v nginx >/dev/null 2>&1 && p=$(cat /run/nginx.pid 2>/dev/null) && [ -n "$p" ] && [ -d "/proc/$p" ] || exit 0; nginx -T 2>/dev/null || true',
    ],
    { says: "read the host's own nginx configuration (nginx -T), if an nginx runs there", reads: true },
  );

export interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
}

/** nginx's configuration language: words (quotes kept together, `#` comments), `;` ends a directive, `{}` a block. */
export function parseNginx(text: string): Directive[] {
  const tokens: string[] = [];
  for (let i = 0; i < text.length;) {
    const c = text[i];
    if (/\s/.test(c)) i++;
    else if (c === '#') while (i < text.length && text[i] !== '\n') i++;
    else if (c === ';' || c === '{' || c === '}') tokens.push(text[i++]);
    else if (c === '"' || c === "'") {
      let j = i + 1;
      let w = '';
      for (; j < text.length && text[j] !== c; j++) {
        if (text[j] === '\\') j++; // an escaped character is itself
        w += text[j];
      }
      tokens.push(`\u0000${w}`); // a quoted word: never a ; { or }
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !/[\s;{}#]/.test(text[j])) j++;
      tokens.push(text.slice(i, j));
      i = j;
    }
  }
  let at = 0;
  const word = (t: string) => (t.startsWith('\u0000') ? t.slice(1) : t);
  const list = (): Directive[] => {
    const out: Directive[] = [];
    while (at < tokens.length && tokens[at] !== '}') {
      const words: string[] = [];
      while (at < tokens.length && !['{', ';', '}'].includes(tokens[at])) words.push(word(tokens[at++]));
      const end = tokens[at++];
      if (!words.length) continue;
      const d: Directive = { name: words[0], args: words.slice(1) };
      if (end === '{') {
        d.block = list();
        at++; // its }
      }
      out.push(d);
    }
    return out;
  };
  return list();
}

/** Every server block of `nginx -T`'s dump (each file's contents follow its `# configuration file` line), and the http block's own settings. */
function servers(dump: string): { http: Directive[]; servers: Directive[] } {
  const http: Directive[] = [];
  const found: Directive[] = [];
  const walk = (ds: Directive[], inHttp: boolean) => {
    for (const d of ds) {
      if (d.name === 'server' && d.block) found.push(d);
      else if (d.name === 'http' && d.block) {
        http.push(...d.block.filter((x) => !x.block));
        walk(d.block, true);
      } else if (d.block && !inHttp && d.name !== 'stream' && d.name !== 'mail') walk(d.block, false);
    }
  };
  for (const part of dump.split(/^# configuration file .*:$/m)) walk(parseNginx(part), false);
  return { http, servers: found };
}

const matchesName = (pattern: string, host: string) =>
  pattern === host ||
  (pattern.startsWith('*.') && host.endsWith(pattern.slice(1))) ||
  (pattern.startsWith('.') && (host === pattern.slice(1) || host.endsWith(pattern)));

/** nginx's sizes in bytes (`0`: no limit). */
export const sizeBytes = (v: string) => {
  const m = /^(\d+)([kKmMgG]?)$/.exec(v);
  return m
    ? Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g']
    : NaN;
};
/** nginx's times in ms (a bare number is seconds). */
export const timeMs = (v: string) => {
  let ms = 0;
  for (const [, n, u] of v.matchAll(/(\d+)(ms|s|m|h|d)?/g))
    ms += Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(u ?? 's') as 'ms'];
  return ms;
};

const bySize = (a: string, b: string) => sizeBytes(a) === sizeBytes(b);
const byTime = (a: string, b: string) => timeMs(a) === timeMs(b);
/** What the new nginx sets per route, by nginx directive: the spec field, nginx's default, how to compare. */
const SETTINGS = (
  [
    ['client_max_body_size', 'maxBodySize', '1m', bySize],
    ['proxy_read_timeout', 'readTimeout', '60s', byTime],
    ['proxy_send_timeout', 'sendTimeout', '60s', byTime],
    ['proxy_connect_timeout', 'connectTimeout', '60s', byTime],
    ['proxy_buffering', 'buffering', 'on', (a: string, b: string) => a === b],
  ] as const
).map(([directive, field, nginxDefault, same]) => ({ directive, field, nginxDefault, same }));

/** The new nginx's value of a setting for a route, as nginx words. */
function ours(r: Spec['routes'][number], field: (typeof SETTINGS)[number]['field']): string {
  const v = r[field];
  return typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v);
}

/**
 * One line per setting the new nginx would change for a route the host's nginx already serves (its server
 * for the route's host name, the location that prefix falls in), and where the host's nginx sends it.
 */
export function hostNginxChanges(s: Spec, dump: string): string[] {
  if (!dump.trim()) return [];
  const { http, servers: all } = servers(dump);
  const out: string[] = [];
  s.routes.forEach((r, i) => {
    const server = all.find((sv) =>
      sv.block!.some((d) => d.name === 'server_name' && d.args.some((a) => matchesName(a, r.host))),
    );
    if (!server) return;
    const locations = server.block!.filter((d) => d.name === 'location' && d.block && d.args.length === 1);
    const loc = locations
      .filter((l) => r.prefix.startsWith(l.args[0]))
      .sort((a, b) => b.args[0].length - a.args[0].length)[0];
    const where = `the host's nginx for ${r.host}${loc ? ` (location ${loc.args[0]})` : ''}`;
    const value = (directive: string) =>
      [loc?.block ?? [], server.block!, http]
        .map((ds) => ds.find((d) => d.name === directive)?.args.join(' '))
        .find((v) => v !== undefined);
    for (const set of SETTINGS) {
      const host = value(set.directive) ?? set.nginxDefault;
      const mine = ours(r, set.field);
      if (!set.same(host, mine))
        out.push(
          `${where}: ${set.directive} ${host}; the new nginx: ${mine} (routes.${i}.${set.field}): set that field to ${host} if the app relies on it`,
        );
    }
    const pass = loc?.block?.find(
      (d) => d.name === 'proxy_pass' || d.name === 'uwsgi_pass' || d.name === 'fastcgi_pass',
    );
    if (pass)
      out.push(
        `${where}: ${pass.name} ${pass.args.join(' ')}; the new nginx sends ${r.host}${r.prefix} to the container ${r.service}:${s.services[r.service].port}${pass.name !== 'proxy_pass' ? ` over HTTP, not ${pass.name.split('_')[0]}: the app's container must answer HTTP there` : ''}`,
      );
    // a path under the route the host's nginx answers itself (files from a dir): the new nginx sends it to the app
    for (const l of locations) {
      const files = l.block!.find((d) => d.name === 'alias' || d.name === 'root');
      if (l.args[0].startsWith(r.prefix) && l.args[0] !== r.prefix && files && routedBelow(s, r, l.args[0]))
        out.push(
          `the host's nginx for ${r.host} serves ${l.args[0]} itself from ${files.args.join(' ')} (${files.name}); the new nginx sends it to ${r.service}: serve those files from the app, or as a data set through nginx.internal`,
        );
    }
  });
  return out;
}

/** A path under route r that no other route of the spec claims (a longer prefix of the same host). */
const routedBelow = (s: Spec, r: Spec['routes'][number], path: string) =>
  !s.routes.some((o) => o !== r && o.host === r.host && path.startsWith(o.prefix) && o.prefix.length > r.prefix.length);
