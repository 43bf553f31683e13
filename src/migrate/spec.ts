import { z } from 'zod';
import { sshExamples, sshSchema } from '../engine/ssh-config.ts';
import {
  RELATIVE_DIR,
  dockerName,
  envName,
  hostPath,
  hostname,
  imageRef,
  ipv4,
  limits,
  port,
  restartPolicy,
  serviceName,
  size,
  userName,
} from '../engine/values.ts';
import { container, nginxContainer, volumeName } from './app.ts';
import { internalRules, internalSchema, routeSchema as baseRoute } from './routes.ts';
import { scheduleSchema } from './schedule.ts';

/**
 * One bare-metal app on one host, as `runbooks/migrate.ts --spec FILE` moves it onto Compose: its
 * services, the data they write, the routes to them through the nginx reverse proxy, the neighbours
 * that must stay untouched. App knowledge lives here, in the spec; the machinery only reads it. Every
 * rule between fields (a data set nobody writes, a route to an unknown service, a port two services
 * claim) is checked at load, so `--dry-run` refuses it in one line naming the field.
 */

/** A key of the spec's own maps (services, data): it names compose services and volumes too. */
const key = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,30}$/,
    'a name of lowercase letters, digits and - (it names a compose service and volumes)',
  );

/** How a service is checked: an HTTP path that must answer 2xx, a TCP connect, or nothing but "running". */
const check = z.union([
  z.object({ http: z.string().startsWith('/') }).strict(),
  z.object({ tcp: z.literal(true) }).strict(),
  z.literal('none'),
]);

/** How its image comes to be: built on the host from a Dockerfile (this machine's file) and a context on the host, or an image already there. */
const build = z.union([
  z
    .object({
      dockerfile: z.string().min(1),
      context: hostPath,
      /** This machine's .dockerignore for the context (uploaded beside the Dockerfile; an existing one is kept and put back). */
      dockerignore: z.string().min(1).optional(),
    })
    .strict(),
  z.object({ image: imageRef }).strict(),
]);

const serviceSchema = z
  .object({
    manager: z.enum(['supervisor', 'pm2', 'systemd']),
    /** Its name under that manager (supervisor program, pm2 process, systemd unit). */
    name: serviceName,
    /** Its container's name (default `<app>-<key>`): where a host's other tools already know it by a name. */
    container: dockerName.optional(),
    /** The port it listens on, on bare metal and in its container (none: a background worker). */
    port: port.optional(),
    check: check.default('none'),
    build,
    /** pm2: the ecosystem file that starts it again on a rollback. */
    ecosystem: hostPath.optional(),
    /** Plain values for its container. */
    env: z.record(envName, z.string()).default({}),
    /** Names of variables read from the operator's environment when the run starts (never printed, never saved). */
    secrets: z.array(envName).default([]),
    limits: limits('512m', 0.5),
    restart: restartPolicy.default('unless-stopped'),
    /** The uid the container runs as: it owns the volumes of the data the service writes. */
    uid: z.number().int().min(1).default(10001),
    /** A scheduled job (a timer with its service, a cron entry): its container runs `command` on this schedule. */
    schedule: scheduleSchema.optional(),
  })
  .strict();

const dataSchema = z
  .object({
    /** Where the data lives on bare metal. */
    path: hostPath,
    /**
     * files: names as bytes, symlinks as links, sparse files and hard links kept. sqlite: files, plus every
     * SQLite database in it (or the `files` named) copied with the backup API and checked row by row.
     * chromadb: sqlite plus segment dirs (ChromaDB's persist dir). postgres: a PostgreSQL on the host.
     */
    kind: z.enum(['files', 'sqlite', 'chromadb', 'postgres']),
    /** The services that write it: they stop at the cutover, and a rollback copies back what their containers wrote. */
    writers: z
      .array(key)
      .min(
        1,
        'no service writes it: name the services that write it (a data set nobody writes is not migrated, it is copied: list it under a writer)',
      ),
    /** Its volume's name (default `<app>_<key>`). */
    volume: dockerName.optional(),
    /** Where the writers' containers see it. */
    mount: z.string().regex(/^\/[^\s:,]*$/, 'an absolute path in the container, without spaces, : or ,'),
    /** sqlite: the database files, relative to path (default: every file with SQLite's header). */
    files: z.array(z.string().regex(RELATIVE_DIR, 'a file under path, relative, without .., : or ,')).optional(),
    /** postgres: how to reach it on the host, and the compose PostgreSQL service of this spec it moves into. */
    postgres: z
      .object({ db: z.string().min(1), user: z.string().min(1), into: key })
      .strict()
      .optional(),
    /** sqlite, chromadb: the backup's copy under a busy writer: copy passes, then (if allowed) a short pause of the writers. */
    snapshot: z
      .object({ attempts: z.number().int().min(1).default(5), pauseWriter: z.boolean().default(true) })
      .strict()
      .prefault({}),
  })
  .strict();

const routeSchema = baseRoute.extend({ service: key });

const neighbourSchema = z
  .object({
    /** A compose project on the host that must stay untouched (its container ids and start times are proven unchanged). */
    project: dockerName,
    /** Its network, joined by this app's containers and nginx. */
    network: dockerName.optional(),
    /** Served by this app's nginx under this Host header (with routes), and checked through it after the deploy. */
    host: hostname.optional(),
    /** What this app's nginx sends where for host: a path prefix to one of the neighbour's containers (name:port). */
    routes: z
      .array(
        z
          .object({
            prefix: z
              .string()
              .regex(/^\/([^\s;{}#]*\/)?$/, 'a path prefix starting and ending with / (like /api/ or /)')
              .default('/'),
            upstream: z
              .string()
              .regex(
                /^[A-Za-z0-9][A-Za-z0-9_.-]*:[0-9]{1,5}$/,
                "a container name and port on the neighbour's network, like mediahub-backend:8000",
              ),
          })
          .strict(),
      )
      .default([]),
    checkPaths: z.array(z.string().startsWith('/')).default(['/']),
    /** A database of the neighbour, pg_dump'd as a safety net before the deploy (never restored by the run). */
    dump: z
      .object({ container: dockerName, user: z.string().min(1), db: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();

export const specSchema = z
  .object({
    /** The app's name: the compose project and the prefix of its volumes and containers. */
    app: key,
    ssh: sshSchema,
    /** Who owns the data on bare metal. */
    owner: userName,
    /** Where compose.yaml, .env and nginx.conf go. */
    deployDir: hostPath,
    services: z.record(key, serviceSchema).refine((s) => Object.keys(s).length > 0, 'at least one service'),
    data: z.record(key, dataSchema).default({}),
    routes: z.array(routeSchema).min(1, 'at least one route: nginx must send the public somewhere'),
    nginx: z
      .object({
        bind: ipv4.default('0.0.0.0'),
        port: port.default(80),
        tls: z.object({ cert: hostPath, key: hostPath }).strict().optional(),
        tlsPort: port.default(443),
        limits: limits('128m', 0.5),
        restart: restartPolicy.default('unless-stopped'),
        /** Its container's name (default `<app>-nginx`). */
        container: dockerName.optional(),
        /** Locations nginx serves itself from a data set, reached only by the app's X-Accel-Redirect (src/migrate/routes.ts). */
        internal: z.array(internalSchema).default([]),
      })
      .strict()
      .prefault({}),
    neighbours: z.array(neighbourSchema).default([]),
    /** Extra endpoints, verified through nginx before and after the cutover (each must answer 2xx). */
    checks: z.array(z.object({ host: hostname, path: z.string().startsWith('/') }).strict()).default([]),
    logs: z
      .object({ maxSize: size.default('10m'), maxFile: z.number().int().min(1).max(100).default(5) })
      .strict()
      .prefault({}),
    /** Images the builds need on the host (no registry is asked: preflight checks each is there). */
    images: z.array(imageRef).default([]),
    /** What a cleanup after the migration archives (moved into archiveDir-<run id>, never deleted). */
    cleanup: z
      .object({ paths: z.array(hostPath).default([]), archiveDir: hostPath.optional() })
      .strict()
      .prefault({}),
    /** The image that fills and checks the volumes (python3 in it); must be on the host. */
    helperImage: imageRef.default('python:3.11-slim'),
    /** Bytes of free space to keep on top of what the migration needs. */
    diskMargin: z
      .number()
      .int()
      .min(0)
      .default(512 * 1024 * 1024),
  })
  .strict()
  .superRefine((s, ctx) => {
    const bad = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const services = Object.keys(s.services);
    const known = (name: string) => services.includes(name);
    const list = services.join(', ');

    const ports = new Map<number, string>();
    for (const [name, svc] of Object.entries(s.services)) {
      if (svc.schedule && svc.port !== undefined)
        bad(['services', name, 'schedule'], 'a scheduled job listens on nothing: drop its port, or its schedule');
      if (svc.port === undefined) {
        if (svc.check !== 'none')
          bad(
            ['services', name, 'check'],
            'a check needs the port it asks on: give the service a port, or check: none',
          );
      } else {
        const other = ports.get(svc.port);
        if (other)
          bad(
            ['services', name, 'port'],
            `${svc.port} is already services.${other}.port: each service needs its own port`,
          );
        ports.set(svc.port, name);
      }
      if (svc.manager === 'pm2' && !svc.ecosystem)
        bad(
          ['services', name, 'ecosystem'],
          'a pm2 service needs its ecosystem file (a rollback starts it from there)',
        );
    }
    for (const p of [s.nginx.port, ...(s.nginx.tls ? [s.nginx.tlsPort] : [])])
      if (ports.has(p))
        bad(
          ['nginx', p === s.nginx.port ? 'port' : 'tlsPort'],
          `${p} is services.${ports.get(p)}.port: nginx needs a port of its own`,
        );
    if (s.nginx.tls && s.nginx.tlsPort === s.nginx.port)
      bad(['nginx', 'tlsPort'], 'must differ from nginx.port (http is redirected to it)');

    const paths: [string, string][] = [];
    for (const [name, d] of Object.entries(s.data)) {
      d.writers.forEach((w, i) => {
        if (!known(w)) bad(['data', name, 'writers', i], `no service ${w} (services: ${list})`);
      });
      for (const [other, p] of paths) {
        const inside = (a: string, b: string) => a === b || a.startsWith(`${b.replace(/\/$/, '')}/`);
        if (inside(d.path, p) || inside(p, d.path))
          bad(['data', name, 'path'], `${d.path} overlaps data.${other}.path ${p}: each data set its own dir`);
      }
      paths.push([name, d.path]);
      if (d.kind === 'postgres') {
        if (!d.postgres)
          bad(
            ['data', name, 'postgres'],
            "a postgres data set needs { db, user, into } (into: the spec's PostgreSQL service)",
          );
        else if (!known(d.postgres.into))
          bad(['data', name, 'postgres', 'into'], `no service ${d.postgres.into} (services: ${list})`);
      } else if (d.postgres)
        bad(['data', name, 'postgres'], `only a postgres data set has postgres: (this one is ${d.kind})`);
      if (d.files && d.kind !== 'sqlite')
        bad(['data', name, 'files'], `only a sqlite data set names its files (this one is ${d.kind})`);
    }

    const routed = new Map<string, number>();
    s.routes.forEach((r, i) => {
      if (!known(r.service)) bad(['routes', i, 'service'], `no service ${r.service} (services: ${list})`);
      else if (s.services[r.service].port === undefined)
        bad(['routes', i, 'service'], `services.${r.service} has no port: nginx cannot send anyone to it`);
      const k = `${r.host}${r.prefix}`;
      if (routed.has(k))
        bad(
          ['routes', i, 'prefix'],
          `${r.host}${r.prefix} is already routes.${routed.get(k)}: one service per host and prefix`,
        );
      routed.set(k, i);
      if (r.stripPrefix && r.prefix === '/') bad(['routes', i, 'stripPrefix'], 'prefix / has nothing to strip');
    });
    for (const [field, message] of internalRules(s.nginx.internal, s.data, new Set(s.routes.map((r) => r.prefix))))
      bad(field, message);
    const names = new Set<string>();
    s.neighbours.forEach((n, i) => {
      if (n.project === s.app)
        bad(['neighbours', i, 'project'], `${n.project} is this app's own project (app): a neighbour is another one`);
      if (names.has(n.project)) bad(['neighbours', i, 'project'], `${n.project} is listed twice`);
      names.add(n.project);
      if (n.host && s.routes.some((r) => r.host === n.host))
        bad(
          ['neighbours', i, 'host'],
          `${n.host} is also a route of this app: one of them would shadow the other in nginx`,
        );
      if (n.routes.length && !n.host)
        bad(
          ['neighbours', i, 'routes'],
          'routes need the Host header nginx serves them under: give the neighbour a host',
        );
      if (n.routes.length && !n.network)
        bad(
          ['neighbours', i, 'routes'],
          `nginx reaches ${n.project}'s containers on its network: give the neighbour a network`,
        );
      if (n.host && !n.routes.length)
        bad(
          ['neighbours', i, 'host'],
          `this app's nginx serves ${n.host} only by routes: list them ({ prefix: /, upstream: CONTAINER:PORT }), or leave host out`,
        );
      const prefixes = new Set<string>();
      n.routes.forEach((r, j) => {
        if (prefixes.has(r.prefix)) bad(['neighbours', i, 'routes', j, 'prefix'], `${r.prefix} is listed twice`);
        prefixes.add(r.prefix);
      });
    });
    const ignoreOf = new Map<string, [string, string | undefined]>();
    for (const [k, svc] of Object.entries(s.services)) {
      if (!('context' in svc.build)) continue;
      const seen = ignoreOf.get(svc.build.context);
      if (seen && seen[1] !== svc.build.dockerignore)
        bad(
          ['services', k, 'build', 'dockerignore'],
          `services.${seen[0]} builds from the same context ${svc.build.context} with ${seen[1] ?? 'no .dockerignore'}: one context, one .dockerignore`,
        );
      else ignoreOf.set(svc.build.context, [k, svc.build.dockerignore]);
    }
    // Names on the host: every container and volume its own (a default and a given one may meet).
    const taken = new Map<string, string>();
    const claim = (name: string, field: (string | number)[]) => {
      const other = taken.get(name);
      if (other) bad(field, `${name} is already the name of ${other}: each container and volume its own name`);
      else taken.set(name, field.join('.'));
    };
    for (const k of Object.keys(s.services)) claim(container(s, k), ['services', k, 'container']);
    claim(nginxContainer(s), ['nginx', 'container']);
    for (const k of Object.keys(s.data)) claim(volumeName(s, k), ['data', k, 'volume']);
  });

export type Spec = z.infer<typeof specSchema>;
export type SpecService = Spec['services'][string];
export type SpecData = Spec['data'][string];

/** The services that write a data set, and so stop at the cutover (a service that writes nothing keeps serving reads until its container answers). */
export const writersOf = (s: Spec) => [...new Set(Object.values(s.data).flatMap((d) => d.writers))];

export const specExamples: Record<string, string> = {
  ...sshExamples,
  app: 'app: chm',
  owner: 'owner: ubuntu',
  deployDir: 'deployDir: /home/ubuntu/chm-deploy',
  services:
    'services: { backend: { manager: supervisor, name: chatbot-backend, port: 8000, build: { image: app:1 } } }',
  'services.manager': 'manager: systemd   # or supervisor, pm2',
  'services.check': 'check: { http: /health }   # or { tcp: true }, or none',
  'services.build': 'build: { dockerfile: docker/Dockerfile.web, context: /srv/app }   # or { image: app:1.4 }',
  'services.ecosystem': 'ecosystem: /srv/app/ecosystem.config.cjs',
  data: 'data: { uploads: { path: /srv/app/uploads, kind: files, writers: [web], mount: /data/uploads } }',
  'data.kind': 'kind: files   # or sqlite, chromadb, postgres',
  'data.writers': 'writers: [web, worker]',
  'data.postgres': 'postgres: { db: app, user: app, into: db }',
  routes: 'routes: [{ host: app.example.com, prefix: /, service: web }]',
  neighbours: 'neighbours: [{ project: mediahub, network: mediahub }]',
  'neighbours.routes':
    'routes: [{ prefix: /, upstream: mediahub-frontend:3000 }, { prefix: /api/, upstream: mediahub-backend:8000 }]',
  'services.container': 'container: chatbot-backend',
  'data.volume': 'volume: chatbot_chroma',
  'nginx.container': 'container: nginx-proxy',
  'nginx.internal': 'internal: [{ prefix: /protected/, data: uploads }]',
  'routes.maxBodySize': 'maxBodySize: 256m   # or 0 for no limit',
  'routes.readTimeout': 'readTimeout: 300s',
  'nginx.port': 'port: 80',
  'nginx.tls':
    'tls: { cert: /etc/letsencrypt/live/app.example.com/fullchain.pem, key: /etc/letsencrypt/live/app.example.com/privkey.pem }',
  'nginx.tls.cert': 'cert: /etc/letsencrypt/live/app.example.com/fullchain.pem',
  'nginx.tls.key': 'key: /etc/letsencrypt/live/app.example.com/privkey.pem',
  'nginx.tlsPort': 'tlsPort: 443',
  'services.limits.memory': 'memory: 512m   # or 1g',
  'services.limits.cpus': 'cpus: 0.5',
  'services.restart': 'restart: unless-stopped   # or always, on-failure, no',
  'services.schedule': 'schedule: { every: 1h, after: 5m, command: [python3, /app/prune.py] }',
  'logs.maxSize': 'maxSize: 10m',
  'logs.maxFile': 'maxFile: 5',
};
