import type { ChmConfig } from './config.ts';
import { dotenvLine } from '../util/dotenv.ts';

/**
 * The files deploy.upload writes, rendered from the config: compose.yaml and nginx.conf from their
 * templates in compose/ and nginx/ (reviewable as they are), the .env the compose file reads its
 * values from, and where the runbook's own checks reach nginx. Pure: no I/O.
 */

export type ApiPrefix = ChmConfig['chatbot']['apiPrefix'];

/** Where the nginx container sees nginx.tls's certificate and key (mounted read-only). */
export const TLS_MOUNT = { cert: '/etc/nginx/tls/fullchain.pem', key: '/etc/nginx/tls/privkey.pem' } as const;

/**
 * The path through nginx that reaches backend path `path` (a path the backend serves, as on bare
 * metal). strip: nginx takes /api off, so /health is reached as /api/health. keep: nginx passes
 * /api/… unchanged, so only paths under /api/ are reachable, as they are (the config refuses others).
 */
export function viaNginxPath(path: string, mode: ApiPrefix): string {
  return mode === 'strip' ? `/api${path}` : path;
}

/**
 * Lines ending in a `# [flag]` marker are kept only when that flag is on; every other line is kept.
 * An unknown flag is an error (a typo in a template must not silently drop or keep a line).
 */
export function keepMarked(template: string, flags: Record<string, boolean>): string {
  return template.split('\n').filter((line) => {
    const m = /#\s*\[([a-z-]+)\]\s*$/.exec(line);
    if (!m) return true;
    if (!(m[1] in flags)) throw new Error(`template line marked [${m[1]}], an unknown flag (known: ${Object.keys(flags).join(', ')}): ${line.trim()}`);
    return flags[m[1]];
  }).join('\n');
}

/** compose/chatbot.compose.yaml as uploaded: the 443 port and certificate mounts only with TLS. */
export function composeFile(template: string, c: ChmConfig): string {
  return keepMarked(template, { tls: Boolean(c.nginx.tls) });
}

/** The .env beside compose.yaml: every value the compose file interpolates (it refuses to start without them). */
export function composeEnv(c: ChmConfig, runId: string): string {
  const d = c.deploy;
  const vars: [string, string | number][] = [
    ['CUTOVER_RUN', runId],
    ['NGINX_PUBLISH', `${c.nginx.bind}:${c.nginx.port}`],
    ...(c.nginx.tls ? [['NGINX_TLS_PUBLISH', `${c.nginx.bind}:${c.nginx.tlsPort}`], ['TLS_CERT', c.nginx.tls.cert], ['TLS_KEY', c.nginx.tls.key]] as [string, string][] : []),
    ['MEDIAHUB_NETWORK', c.mediahub.network],
    ['RESTART_POLICY', d.restart],
    ['BACKEND_MEMORY', d.backend.memory], ['BACKEND_CPUS', d.backend.cpus],
    ['FRONTEND_MEMORY', d.frontend.memory], ['FRONTEND_CPUS', d.frontend.cpus],
    ['NGINX_MEMORY', d.nginx.memory], ['NGINX_CPUS', d.nginx.cpus],
    ['LOG_MAX_SIZE', d.logs.maxSize], ['LOG_MAX_FILE', d.logs.maxFile],
  ];
  return vars.map(([k, v]) => dotenvLine(k, String(v))).join('');
}

/**
 * nginx/nginx.conf as uploaded: the hostnames, the chatbot's /api/ prefix stripped or kept, and
 * with TLS both hostnames on 443 (the container's port; published on nginx.tlsPort) with http
 * redirected there.
 */
export function nginxConf(template: string, c: ChmConfig): string {
  const tlsPort = c.nginx.tlsPort === 443 ? '' : `:${c.nginx.tlsPort}`;
  return keepMarked(template, { tls: Boolean(c.nginx.tls), strip: c.chatbot.apiPrefix === 'strip' })
    .replaceAll('chatbot.chmedia.com', c.hostnames.chatbot)
    .replaceAll('mediahub.chmedia.com', c.hostnames.mediahub)
    .replaceAll('https://$host$request_uri', `https://$host${tlsPort}$request_uri`);
}

/** `docker run` mounts that let a throwaway nginx (`nginx -t`) read the certificate and key, as the real one does. */
export function nginxTlsMounts(c: ChmConfig): string[] {
  const t = c.nginx.tls;
  return t ? ['-v', `${t.cert}:${TLS_MOUNT.cert}:ro`, '-v', `${t.key}:${TLS_MOUNT.key}:ro`] : [];
}

/**
 * The URL the runbook's own checks use on the host (with a Host header): plain http on nginx.port,
 * or, with TLS, https on nginx.tlsPort (curl -k: the certificate names the public hostnames, not
 * 127.0.0.1), since with TLS nginx redirects every http request, the checks' too.
 */
export function nginxCheckUrl(c: ChmConfig, path: string): string {
  const addr = c.nginx.bind === '0.0.0.0' ? '127.0.0.1' : c.nginx.bind;
  return c.nginx.tls ? `https://${addr}:${c.nginx.tlsPort}${path}` : `http://${addr}:${c.nginx.port}${path}`;
}

/** The public URL of `host` + `path` (what the report prints): https with TLS, a non-default port spelled out. */
export function publicUrl(c: ChmConfig, host: string, path = '/'): string {
  const [scheme, port, dflt] = c.nginx.tls ? ['https', c.nginx.tlsPort, 443] : ['http', c.nginx.port, 80];
  return `${scheme}://${host}${port === dflt ? '' : `:${port}`}${path}`;
}
