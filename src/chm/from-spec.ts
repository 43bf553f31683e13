import { relative } from 'node:path';
import { z } from 'zod';
import { specSchema, type Spec } from '../migrate/spec.ts';

/**
 * CHM as a spec (runbooks/specs/chm.yaml): the spec read into migrate-chm's config. migrate-chm deploys
 * CHM's own compose file, so it takes the spec's CHM shape only (a backend and a frontend, ChromaDB, PDFs
 * and transcripts where that compose file mounts them); anything else is refused naming the field.
 */
const SHAPE = {
  services: ['backend', 'frontend'],
  data: { chroma: ['chromadb', '/data/chroma_db'], pdfs: ['files', '/data/pdfs'], transcripts: ['files', '/data/transcripts'] },
} as const;

const under = (dir: string, p: string) => p.startsWith(`${dir}/`);

/** A spec in CHM's shape, as the raw config chmSchema then validates (issues name the spec's fields). */
export function chmConfigFromSpec(s: Spec, ctx: z.RefinementCtx): Record<string, unknown> | undefined {
  const bad = (path: (string | number)[], message: string) => {
    ctx.addIssue({ code: 'custom', path, message: `${message} (migrate-chm moves CHM's shape)` });
    return undefined;
  };
  for (const name of SHAPE.services) if (!s.services[name]) return bad(['services'], `needs a service ${name}`);
  for (const name of Object.keys(s.services)) if (!(SHAPE.services as readonly string[]).includes(name)) return bad(['services', name], 'is not backend or frontend');
  for (const [name, [kind, mount]] of Object.entries(SHAPE.data)) {
    const d = s.data[name];
    if (!d) return bad(['data'], `needs a data set ${name} (${kind}, mounted at ${mount})`);
    if (d.kind !== kind) return bad(['data', name, 'kind'], `must be ${kind}`);
    if (d.mount !== mount) return bad(['data', name, 'mount'], `must be ${mount} (where CHM's compose file mounts it)`);
    if (d.writers.join() !== 'backend') return bad(['data', name, 'writers'], 'must be [backend]');
  }
  for (const name of Object.keys(s.data)) if (!(name in SHAPE.data)) return bad(['data', name], 'is not chroma, pdfs or transcripts');
  const { backend, frontend } = s.services;
  for (const [n, svc] of [['backend', backend], ['frontend', frontend]] as const) if (svc.port === undefined) return bad(['services', n, 'port'], 'must be the port it listens on');
  if (!('context' in backend.build) || backend.build.dockerfile !== 'compose/Dockerfile.backend')
    return bad(['services', 'backend', 'build'], 'must be { dockerfile: compose/Dockerfile.backend, context: DIR } (CHM builds its backend on the host)');
  const dir = backend.build.context;
  if (!('context' in frontend.build) || frontend.build.dockerfile !== 'compose/Dockerfile.frontend')
    return bad(['services', 'frontend', 'build'], 'must be { dockerfile: compose/Dockerfile.frontend, context: DIR }');
  if (!under(dir, frontend.build.context)) return bad(['services', 'frontend', 'build', 'context'], `must be a dir under the backend's context ${dir}`);
  for (const name of Object.keys(SHAPE.data)) if (!under(dir, s.data[name].path)) return bad(['data', name, 'path'], `must be under the backend's context ${dir}`);
  if (backend.uid !== frontend.uid) return bad(['services', 'frontend', 'uid'], `must equal services.backend.uid (${backend.uid}): CHM's volumes have one owner`);
  if (backend.restart !== frontend.restart) return bad(['services', 'frontend', 'restart'], `must equal services.backend.restart (${backend.restart}): CHM has one restart policy`);
  if (Object.keys(backend.env).length || Object.keys(frontend.env).length) return bad(['services', 'backend', 'env'], 'CHM\'s compose file sets the env itself');
  if (frontend.secrets.length) return bad(['services', 'frontend', 'secrets'], 'CHM gives secrets to the backend only');

  const api = s.routes.find((r) => r.service === 'backend');
  const front = s.routes.find((r) => r.service === 'frontend');
  if (!api || api.prefix !== '/api/') return bad(['routes'], 'needs a route with prefix /api/ to backend');
  if (!front || front.prefix !== '/' || front.host !== api.host) return bad(['routes'], `needs a route with prefix / to frontend on ${api.host}`);
  if (s.routes.length !== 2) return bad(['routes'], 'has exactly the two routes (/api/ to backend, / to frontend)');
  if (s.neighbours.length !== 1) return bad(['neighbours'], 'has exactly one neighbour: MediaHub');
  const hub = s.neighbours[0];
  if (!hub.network || !hub.host || !hub.dump) return bad(['neighbours', 0], 'MediaHub needs network, host and dump (its PostgreSQL, pg_dump\'d as a safety net)');
  const stats = s.checks.filter((c) => c.host === api.host && c.path.startsWith(api.prefix));
  if (s.checks.length !== stats.length || stats.length > 1) return bad(['checks'], `CHM has one extra check: a backend path under ${api.host}${api.prefix}`);
  const strip = (p: string) => (api.stripPrefix ? `/${p.slice(api.prefix.length)}` : p);
  const health = typeof backend.check === 'object' && 'http' in backend.check ? backend.check.http : undefined;
  const chroma = s.data.chroma;

  return {
    ssh: s.ssh,
    chatbot: {
      dir,
      frontendDir: relative(dir, frontend.build.context),
      data: Object.fromEntries(Object.keys(SHAPE.data).map((n) => [n, relative(dir, s.data[n].path)])),
      owner: s.owner,
      backend: { manager: backend.manager, name: backend.name, port: backend.port, ...(backend.ecosystem ? { ecosystem: backend.ecosystem } : {}) },
      frontend: { manager: frontend.manager, name: frontend.name, port: frontend.port, ...(frontend.ecosystem ? { ecosystem: frontend.ecosystem } : {}) },
      secretEnv: backend.secrets,
      ...(health ? { healthPath: health } : {}),
      ...(stats[0] ? { statsPath: strip(stats[0].path) } : {}),
      apiPrefix: api.stripPrefix ? 'strip' : 'keep',
      snapshot: chroma.snapshot,
    },
    mediahub: { project: hub.project, network: hub.network, checkPaths: hub.checkPaths, postgres: hub.dump },
    hostnames: { chatbot: api.host, mediahub: hub.host },
    nginx: { bind: s.nginx.bind, port: s.nginx.port, ...(s.nginx.tls ? { tls: s.nginx.tls } : {}), tlsPort: s.nginx.tlsPort },
    deploy: { backend: backend.limits, frontend: frontend.limits, nginx: s.nginx.limits, logs: s.logs, restart: backend.restart },
    deployDir: s.deployDir,
    containerUid: backend.uid,
    helperImage: s.helperImage,
    ...(s.images.length ? { images: s.images } : {}),
    cleanup: { paths: s.cleanup.paths, ...(s.cleanup.archiveDir ? { archiveDir: s.cleanup.archiveDir } : {}) },
    diskMargin: s.diskMargin,
  };
}

/** A config file is a spec when it says which app it describes and lists services (a CHM config has neither). */
export const isSpec = (raw: unknown): boolean => typeof raw === 'object' && raw !== null && 'services' in raw && 'app' in raw;

/** Either input of migrate-chm and cleanup-chm: a CHM config as is, or a spec read into one. */
export function chmInput<T extends z.ZodType>(chmSchema: T) {
  return z.unknown().transform((raw, ctx) => {
    if (!isSpec(raw)) return raw;
    const spec = specSchema.safeParse(raw);
    if (!spec.success) {
      for (const issue of spec.error.issues) ctx.addIssue({ ...issue, code: 'custom', message: issue.message } as z.core.$ZodRawIssue);
      return z.NEVER;
    }
    return chmConfigFromSpec(spec.data, ctx) ?? z.NEVER;
  }).pipe(chmSchema);
}
