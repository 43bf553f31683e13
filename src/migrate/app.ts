import type { Spec, SpecData } from './spec.ts';
import type { VolumeSet } from './ops.ts';

/**
 * The names a migration by spec gives what it makes, derived from the spec's `app` and its keys unless
 * the spec names them (a host whose other tools already know a container or a volume by its name): the
 * compose project is the app, each service's container `<app>-<key>`, image `<app>-<key>:<run>`, each
 * data set's volume `<app>_<key>`, nginx `<app>-nginx`. Pure: no I/O.
 */
export const container = (s: Spec, svc: string) => s.services[svc]?.container ?? `${s.app}-${svc}`;
export const imageTag = (s: Spec, svc: string, runId: string) => `${s.app}-${svc}:${runId}`;
export const volumeName = (s: Spec, data: string) => s.data[data]?.volume ?? `${s.app}_${data}`;
export const nginxContainer = (s: Spec) => s.nginx.container ?? `${s.app}-nginx`;
export const projectNetwork = (s: Spec) => `${s.app}_default`;
/** The image a service runs: built for this run, or the spec's image as it is on the host. */
export const serviceImage = (s: Spec, svc: string, runId: string) => {
  const b = s.services[svc].build;
  return 'image' in b ? b.image : imageTag(s, svc, runId);
};

/** The data sets that are files on the host (files, sqlite, chromadb): archived, restored into volumes, delta'd, synced back. */
export function fileSets(s: Spec): (VolumeSet & { key: string; d: SpecData })[] {
  return Object.entries(s.data)
    .filter(([, d]) => d.kind !== 'postgres')
    .map(([key, d]) => ({ key, d, name: key, volume: volumeName(s, key), live: d.path }));
}

/** The data sets that are a PostgreSQL database on the host, each moving into a compose PostgreSQL service of the spec. */
export function pgSets(s: Spec) {
  return Object.entries(s.data)
    .filter(([, d]) => d.kind === 'postgres')
    .map(([key, d]) => {
      const pg = d.postgres!;
      return {
        key,
        d,
        db: pg.db,
        user: pg.user,
        into: pg.into,
        container: container(s, pg.into),
        volume: volumeName(s, key),
      };
    });
}
export type PgSet = ReturnType<typeof pgSets>[number];

/** Services that write some data set: they stop when the cutover starts (the write freeze). */
export const writers = (s: Spec) =>
  Object.keys(s.services).filter((k) => Object.values(s.data).some((d) => d.writers.includes(k)));
/** Services a postgres data set moves into: their containers hold data from the start, they are never writers' replacements. */
export const pgTargets = (s: Spec) => new Set(pgSets(s).map((p) => p.into));
/** Services behind a route: the gate keeps the public from them until the cutover. */
export const routed = (s: Spec) => new Set(s.routes.map((r) => r.service));
/**
 * Containers started at deploy: those the gate guards (routed) and the PostgreSQL targets. A writer no
 * route reaches (a worker) would write into the volumes before the final delta with no gate to stop it:
 * it starts at the cutover, on the final data.
 */
export const startedAtDeploy = (s: Spec) =>
  Object.keys(s.services).filter((k) => routed(s).has(k) || pgTargets(s).has(k) || !writers(s).includes(k));
export const startedAtCutover = (s: Spec) => Object.keys(s.services).filter((k) => !startedAtDeploy(s).includes(k));

/** The uid:gid that owns a data set's volume: its first writer's container user. */
export const volumeOwner = (s: Spec, d: SpecData) => {
  const uid = s.services[d.writers[0]].uid;
  return `${uid}:${uid}`;
};
