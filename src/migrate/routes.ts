import { z } from 'zod';
import { hostname, size } from '../engine/values.ts';

/**
 * What the app needs of its nginx, per route: how large a request it takes, how long it may take to
 * answer, whether nginx buffers; and the internal locations nginx serves itself from a data set (the
 * app answers `X-Accel-Redirect: PREFIX...`). Bare metal's front door took what the app takes: the
 * defaults are nginx's usual ones made explicit, and every one is a field.
 */

/** An nginx time: a whole number of ms, s, m or h. */
const duration = z
  .string()
  .regex(/^[1-9][0-9]*(ms|s|m|h)$/, 'a time like 60s, 500ms or 5m (a whole number, then ms, s, m or h)');
/** A path prefix ending in / (`/` for everything not routed elsewhere). */
export const prefix = z
  .string()
  .regex(/^\/([^\s;{}#'"\\$]*\/)?$/, 'a path prefix starting and ending with / (like /api/ or /)');

export const routeSchema = z
  .object({
    host: hostname,
    prefix: prefix.default('/'),
    service: z.string(),
    /** strip: /api/x reaches the service as /x; keep: unchanged. */
    stripPrefix: z.boolean().default(false),
    /** The largest request body nginx passes (a larger one gets 413): nginx's client_max_body_size, `0` for no limit. */
    maxBodySize: z.union([size, z.literal('0')]).default('100m'),
    /** How long nginx waits for the app: between two reads of its answer, two writes of the request, and to connect. */
    readTimeout: duration.default('300s'),
    sendTimeout: duration.default('60s'),
    connectTimeout: duration.default('60s'),
    /** false: nginx streams requests and answers through unbuffered (uploads the app reads as they come, server-sent events). */
    buffering: z.boolean().default(true),
  })
  .strict();
export type Route = z.infer<typeof routeSchema>;

/** A location nginx serves itself, read-only, from a file data set; reached only through the app's X-Accel-Redirect. */
export const internalSchema = z
  .object({
    prefix,
    /** The data set (a key of data:) whose volume nginx mounts read-only and serves under the prefix. */
    data: z.string(),
  })
  .strict();
export type Internal = z.infer<typeof internalSchema>;

/** Where nginx's container sees data set KEY (read-only). */
export const internalMount = (key: string) => `/srv/cutover-internal/${key}`;

/** The nginx directives of one route (inside its location). */
export const routeDirectives = (r: Route): string[] => [
  `client_max_body_size ${r.maxBodySize};`,
  `proxy_read_timeout ${r.readTimeout};`,
  `proxy_send_timeout ${r.sendTimeout};`,
  `proxy_connect_timeout ${r.connectTimeout};`,
  ...(r.buffering ? [] : ['proxy_buffering off;', 'proxy_request_buffering off;']),
];

/** An internal location: nginx serves the data set's files under PREFIX, only on the app's own redirect. */
export const internalLocation = (i: Internal): string[] => [
  `location ${i.prefix} {`,
  '    internal;',
  `    alias ${internalMount(i.data)}/;`,
  '}',
];

/** The spec's rules for internal locations: a file data set, a prefix no route already has. Returns [field, message] pairs. */
export function internalRules(
  internal: Internal[],
  data: Record<string, { kind: string }>,
  routePrefixes: Set<string>,
): [(string | number)[], string][] {
  const bad: [(string | number)[], string][] = [];
  const seen = new Set<string>();
  internal.forEach((i, n) => {
    const d = data[i.data];
    if (!d)
      bad.push([
        ['nginx', 'internal', n, 'data'],
        `no data set ${i.data} (data: ${Object.keys(data).join(', ') || 'none'})`,
      ]);
    else if (d.kind === 'postgres')
      bad.push([
        ['nginx', 'internal', n, 'data'],
        `data.${i.data} is a PostgreSQL database: nginx serves files (kind files, sqlite or chromadb)`,
      ]);
    if (routePrefixes.has(i.prefix) || seen.has(i.prefix))
      bad.push([
        ['nginx', 'internal', n, 'prefix'],
        `${i.prefix} is already a route's or another internal location's prefix: each its own`,
      ]);
    seen.add(i.prefix);
  });
  return bad;
}
