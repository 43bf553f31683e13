import { stringify } from 'yaml';
import { UserError } from '../util/errors.ts';
import { Secret } from '../util/secret.ts';
import { dotenvLine } from '../util/dotenv.ts';
import type { Spec } from './spec.ts';
import { internalLocation, internalMount, routeDirectives } from './routes.ts';
import { container, fileSets, nginxContainer, pgSets, routed, serviceImage, volumeName } from './app.ts';
import { scheduledArgv } from './schedule.ts';

/**
 * The files a migration by spec uploads, rendered from the spec alone: compose.yaml (one service per
 * spec service, nginx in front, the data volumes external so no compose command can delete them),
 * nginx.conf (one server block per routed host, the gate included in each), each service's secrets
 * file. Pure, but for the secrets read from the operator's environment.
 */

/** Where the nginx container sees nginx.tls's certificate and key (mounted read-only). */
export const TLS_MOUNT = { cert: '/etc/nginx/tls/fullchain.pem', key: '/etc/nginx/tls/privkey.pem' } as const;

export const secretsFileName = (svc: string) => `secrets-${svc}.env`;

/** A value compose must read as itself: compose interpolates `$NAME` and `${NAME}` in every string, `$$` is one `$`. */
export const literal = (v: string) => v.replaceAll('$', '$$$$');

/** The compose file: images, env, secrets file, limits, restart, logs, volumes at the spec's mounts, networks. */
export function composeFile(s: Spec, runId: string): string {
  const logging = { driver: 'json-file', options: { 'max-size': s.logs.maxSize, 'max-file': String(s.logs.maxFile) } };
  const labels = { 'io.cutover.run': runId };
  const neighbourNets = [...new Set(s.neighbours.map((n) => n.network).filter((n): n is string => Boolean(n)))];
  const networks = ['default', ...neighbourNets];
  const pgInto = new Map(pgSets(s).map((p) => [p.into, p]));
  const services: Record<string, unknown> = {};
  for (const [key, svc] of Object.entries(s.services)) {
    const mounts = fileSets(s)
      .filter((f) => f.d.writers.includes(key))
      .map((f) => literal(`${f.volume}:${f.d.mount}`));
    const pg = pgInto.get(key);
    if (pg) mounts.push(literal(`${pg.volume}:${pg.d.mount}`));
    const dependsOn = pgSets(s)
      .filter((p) => p.d.writers.includes(key) && p.into !== key)
      .map((p) => p.into);
    const job = svc.schedule && scheduledArgv(svc.schedule);
    services[key] = {
      image: serviceImage(s, key, runId),
      ...(job ? { entrypoint: job.entrypoint.map(literal), command: job.command.map(literal) } : {}),
      pull_policy: 'never',
      container_name: container(s, key),
      restart: svc.restart,
      mem_limit: svc.limits.memory,
      cpus: svc.limits.cpus,
      logging,
      ...(Object.keys(svc.env).length
        ? { environment: Object.fromEntries(Object.entries(svc.env).map(([k, v]) => [k, literal(v)])) }
        : {}),
      ...(svc.secrets.length ? { env_file: [`./${secretsFileName(key)}`] } : {}),
      ...(mounts.length ? { volumes: mounts } : {}),
      ...(dependsOn.length ? { depends_on: [...new Set(dependsOn)] } : {}),
      labels,
      networks,
    };
  }
  const tls = s.nginx.tls;
  services.nginx = {
    image: 'nginx:alpine',
    pull_policy: 'never',
    container_name: nginxContainer(s),
    restart: s.nginx.restart,
    mem_limit: s.nginx.limits.memory,
    cpus: s.nginx.limits.cpus,
    logging,
    ports: [`${s.nginx.bind}:${s.nginx.port}:80`, ...(tls ? [`${s.nginx.bind}:${s.nginx.tlsPort}:443`] : [])],
    volumes: [
      './nginx.conf:/etc/nginx/nginx.conf:ro',
      './gate:/etc/nginx/gate:ro',
      ...(tls ? [`${tls.cert}:${TLS_MOUNT.cert}:ro`, `${tls.key}:${TLS_MOUNT.key}:ro`] : []),
      ...s.nginx.internal.map((i) => literal(`${volumeName(s, i.data)}:${internalMount(i.data)}:ro`)),
    ],
    depends_on: [...routed(s)],
    labels,
    networks,
  };
  const volumes = Object.fromEntries(Object.keys(s.data).map((k) => [volumeName(s, k), { external: true }]));
  const doc = {
    name: s.app,
    services,
    volumes,
    networks: { default: {}, ...Object.fromEntries(neighbourNets.map((n) => [n, { external: true }])) },
  };
  return `# ${s.app} on Compose, rendered by cutover from its spec (run ${runId}). Data volumes are external:\n# no compose command (down -v included) can delete them.\n${stringify(doc)}`;
}

const PROXY = `            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;`;

/** The gate file's name in the nginx container's gate dir. */
export const GATE_FILE = 'app.conf';

/**
 * nginx.conf: unknown hosts get 444; each routed host one server block, the gate included, one location
 * per prefix. Upstreams are resolved at request time (Docker's DNS), so `nginx -t` passes before the
 * containers exist and a restarted container's new address is picked up.
 */
export function nginxConf(s: Spec): string {
  const tls = s.nginx.tls;
  const hosts = [...new Set(s.routes.map((r) => r.host))];
  const tlsPort = s.nginx.tlsPort === 443 ? '' : `:${s.nginx.tlsPort}`;
  const server = (host: string) => {
    const locations = s.routes
      .filter((r) => r.host === host)
      .map((r) => {
        const port = s.services[r.service].port;
        const varName = `$up_${r.service.replace(/-/g, '_')}`;
        return [
          `        location ${r.prefix} {`,
          // the container's name, unique on the host: a service key may also name a neighbour's service on a shared network
          `            set ${varName} http://${container(s, r.service)}:${port};`,
          ...(r.stripPrefix
            ? [`            rewrite ^${r.prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(.*)$ /$1 break;`]
            : []),
          `            proxy_pass ${varName};`,
          PROXY,
          ...routeDirectives(r).map((d) => `            ${d}`),
          '        }',
        ].join('\n');
      });
    const internal = s.nginx.internal.flatMap(internalLocation).map((l) => `        ${l}`);
    return block(host, [`        include /etc/nginx/gate/${GATE_FILE};`, ...locations, ...internal]);
  };
  const block = (host: string, body: string[]) =>
    [
      '    server {',
      '        listen 80;',
      ...(tls
        ? ['        listen 443 ssl;', `        if ($scheme = http) { return 301 https://$host${tlsPort}$request_uri; }`]
        : []),
      `        server_name ${host};`,
      ...body,
      '    }',
    ].join('\n');
  // A neighbour this nginx serves (it holds the host's port 80): its routes as they were, no gate (it is not migrated).
  const neighbour = (n: Spec['neighbours'][number], i: number) =>
    block(
      n.host!,
      n.routes.map((r, j) =>
        [
          `        location ${r.prefix} {`,
          `            set $nb_${i}_${j} http://${r.upstream};`,
          `            proxy_pass $nb_${i}_${j};`,
          PROXY,
          '            proxy_read_timeout 300s;',
          '        }',
        ].join('\n'),
      ),
    );
  return [
    `# Front door of ${s.app}, rendered by cutover from its spec: routes by Host header and path prefix.`,
    'events { worker_connections 1024; }',
    'http {',
    '    resolver 127.0.0.11 valid=10s ipv6=off;',
    '    access_log /dev/stdout;',
    '    error_log /dev/stderr warn;',
    '    client_max_body_size 100m;',
    ...(tls
      ? [
          `    ssl_certificate ${TLS_MOUNT.cert};`,
          `    ssl_certificate_key ${TLS_MOUNT.key};`,
          '    ssl_protocols TLSv1.2 TLSv1.3;',
        ]
      : []),
    "    map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
    '    server {',
    '        listen 80 default_server;',
    ...(tls ? ['        listen 443 ssl default_server;'] : []),
    '        return 444;',
    '    }',
    ...hosts.map(server),
    ...s.neighbours.map((n, i) => (n.host && n.routes.length ? neighbour(n, i) : '')).filter(Boolean),
    '}',
    '',
  ].join('\n');
}

/** KEY=value lines of a service's secrets, from the operator's environment; never printed. */
export function secretsEnv(s: Spec, svc: string): Secret {
  const names = s.services[svc].secrets;
  const missing = names.filter((k) => !process.env[k]);
  if (missing.length)
    throw new UserError(
      `secret ${missing.join(', ')} (services.${svc}.secrets) is not set (or empty) in this shell: export ${missing[0]}=... before running`,
    );
  return new Secret(names.map((k) => dotenvLine(k, process.env[k]!)).join(''));
}

/** The URL the runbook's own checks use on the host (with a Host header): nginx's http port, or https with TLS (curl -k). */
export function checkUrl(s: Spec, path: string): string {
  const addr = s.nginx.bind === '0.0.0.0' ? '127.0.0.1' : s.nginx.bind;
  return s.nginx.tls ? `https://${addr}:${s.nginx.tlsPort}${path}` : `http://${addr}:${s.nginx.port}${path}`;
}

/** The path through nginx that reaches `path` of a routed service (its first route). */
export function viaRoute(s: Spec, svc: string, path: string): { host: string; path: string } | undefined {
  const r = s.routes.find((x) => x.service === svc);
  if (!r) return undefined;
  return { host: r.host, path: r.stripPrefix ? `${r.prefix.replace(/\/$/, '')}${path}` : path };
}

/** The path nginx is checked at for route R: its service's own health path through it when the route reaches it, else the prefix. */
export function routeCheckPath(s: Spec, r: Spec['routes'][number]): string {
  const c = s.services[r.service].check;
  const p = typeof c === 'object' && 'http' in c ? viaRoute(s, r.service, c.http) : undefined;
  return p && p.path.startsWith(r.prefix) ? p.path : r.prefix;
}

/** The public URL of `host` + `path` (what the report prints): https with TLS, a non-default port spelled out. */
export function publicUrl(s: Spec, host: string, path = '/'): string {
  const [scheme, port, dflt] = s.nginx.tls ? ['https', s.nginx.tlsPort, 443] : ['http', s.nginx.port, 80];
  return `${scheme}://${host}${port === dflt ? '' : `:${port}`}${path}`;
}
