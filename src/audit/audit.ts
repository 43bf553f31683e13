/**
 * The checks themselves, on facts already gathered (image config, the layer scan, the Dockerfile,
 * the build context listing, the compose file): pure functions, tested without a host.
 */
import { formatBytes } from '../util/bytes.ts';
import { CHECKS, result, type CheckId, type CheckResult, type Evidence } from './checks.ts';
import {
  alignHistory,
  describe,
  lastOf,
  layerHistory,
  unpinnedFroms,
  type DockerfileFacts,
  type Instr,
} from './dockerfile.ts';
import { fateOf, keptFile, type ImageFs } from './layers.ts';
import { KNOWN_PLACEHOLDERS, scanText, secretSetting } from './secrets.ts';
import { checkCompose, composeService, interpolate } from './compose-checks.ts';
import { checkDockerignore, excludedBy, MUST_IGNORE } from './dockerignore-check.ts';
import { checkHealthcheck, findBinary } from './healthcheck-check.ts';
import { checkMultiStage } from './multistage-check.ts';
import { checkDevDeps, checkToolchain, installedPackages, requirementNames, TOOL_PKG } from './toolchain-checks.ts';

export { checkCompose, composeService, interpolate, checkDockerignore, excludedBy, MUST_IGNORE };
export { checkHealthcheck, findBinary, checkDevDeps, checkToolchain, installedPackages, requirementNames, TOOL_PKG };

export interface ImageInspect {
  Id: string;
  Size: number;
  Config?: {
    User?: string;
    Env?: string[] | null;
    Labels?: Record<string, string> | null;
    Healthcheck?: { Test?: string[] } | null;
  };
  RootFS?: { Layers?: string[] };
}

export interface ContextFacts {
  dir: string;
  /** content of .dockerignore, or null when there is none */
  dockerignore: string | null;
  /** relative paths in the context worth checking (sensitive names, bulky dirs) */
  files: string[];
  requirements?: string;
  devRequirements?: { file: string; text: string };
}

export interface ImageFacts {
  name: string;
  inspect: ImageInspect;
  fs: ImageFs;
  dockerfile?: DockerfileFacts;
  context?: ContextFacts;
  /** the compose file's text, and the variables of the .env beside it (compose interpolates them) */
  compose?: { file: string; service: string; text: string; vars?: Record<string, string> };
  sizeBudget: number;
  ignoreSecretPaths?: string[];
}

/** One audited image; a Dockerfile audited without an image (prebuild.ts) has no id, size or layers. */
export interface ImageReport {
  image: string;
  id?: string;
  size?: number;
  layers?: number;
  dockerfile?: string;
  checks: CheckResult[];
}

/** Per layer: its 1-based number, short id, and the instruction (or history line) that made it. */
export class LayerMap {
  private readonly histOfLayer: number[];
  private readonly aligned: Map<number, Instr>;
  constructor(private readonly f: ImageFacts) {
    const history = f.fs.config?.history ?? [];
    this.histOfLayer = layerHistory(history);
    this.aligned = f.dockerfile ? alignHistory(history, f.dockerfile.finalChain) : new Map();
  }
  instrOfHistory(j: number): Instr | undefined {
    return this.aligned.get(j);
  }
  /** Evidence fields for layer i (0-based). */
  ev(i: number): Pick<Evidence, 'layer' | 'layerId' | 'instruction'> {
    const j = this.histOfLayer[i];
    const ins = j === undefined ? undefined : this.aligned.get(j);
    const h = j === undefined ? undefined : this.f.fs.config?.history?.[j];
    const diff = this.f.inspect.RootFS?.Layers?.[i];
    return {
      layer: i + 1,
      ...(diff ? { layerId: diff.replace(/^sha256:/, '').slice(0, 12) } : {}),
      instruction:
        ins && this.f.dockerfile
          ? describe(this.f.dockerfile.path, ins)
          : h?.created_by
            ? `history: ${shortCreatedBy(h.created_by)}${this.isBase(i) ? ' (base image)' : ''}`
            : 'base image',
    };
  }
  isBase(i: number): boolean {
    const j = this.histOfLayer[i];
    return this.f.dockerfile !== undefined && (j === undefined || !this.aligned.has(j));
  }
  layerLabel(i: number): string {
    const e = this.ev(i);
    return `layer ${e.layer}${e.layerId ? ` (${e.layerId})` : ''}, ${e.instruction}`;
  }
}

export const shortCreatedBy = (s: string) => {
  const t = s
    .replace(/^\/bin\/sh -c (#\(nop\)\s+)?/, '')
    .replace(/\s+/g, ' ')
    .trim();
  return t.length > 100 ? `${t.slice(0, 100)}…` : t;
};

export function auditImage(f: ImageFacts): ImageReport {
  const lm = new LayerMap(f);
  const checks: CheckResult[] = [
    checkNonRoot(f, lm),
    checkHealthcheck(f, lm),
    checkSecrets(f, lm),
    checkToolchain(f, lm),
    checkDevDeps(f, lm),
    checkMultiStage(f),
    checkBasePinned(f),
    checkSize(f, lm),
    checkDockerignore(f),
    ...checkCompose(f),
  ];
  return { image: f.name, id: f.inspect.Id, size: f.inspect.Size, layers: f.fs.layers.length, checks };
}

// ---------------------------------------------------------------------------------------------
function passwdUid(f: ImageFacts, user: string): number | undefined {
  const passwd = keptFile(f.fs, 'etc/passwd')?.toString('utf8') ?? '';
  for (const l of passwd.split('\n')) {
    const p = l.split(':');
    if (p[0] === user && p[2] !== undefined) return Number(p[2]);
  }
  return undefined;
}

export function checkNonRoot(f: ImageFacts, _lm: LayerMap): CheckResult {
  const raw = (f.inspect.Config?.User ?? '').trim();
  const user = raw.split(':')[0];
  const df = f.dockerfile;
  const lastUser = df ? lastOf(df.finalChain, 'USER') : undefined;
  const final = df?.stages[df.stages.length - 1];
  const dfEvidence: Evidence[] = df
    ? [
        lastUser
          ? {
              what: `the final stage's last USER is ${lastUser.args}`,
              instruction: describe(df.path, lastUser),
              file: df.path,
            }
          : {
              what: 'the final stage has no USER instruction',
              instruction: `${df.path}:${final!.from.line} FROM ${final!.from.image}`,
              file: df.path,
            },
      ]
    : [];
  const fix =
    'create a user and switch to it at the end of the final stage: RUN useradd --uid 10001 --create-home app, then USER 10001 (numeric, so Kubernetes runAsNonRoot can verify it)';
  let why: string | undefined;
  if (!user) why = 'the image config has no User: containers run as root';
  else if (user === '0' || user === 'root') why = `the image config's User is ${raw}: root`;
  else if (!/^[0-9]+$/.test(user)) {
    const uid = passwdUid(f, user);
    if (uid === 0) why = `User ${raw} has uid 0 in /etc/passwd: root under another name`;
    else if (uid === undefined)
      return result('non-root', 'pass', `runs as ${raw} (not in /etc/passwd: check it resolves at run time)`);
  }
  if (why) return result('non-root', 'fail', why, [{ what: why }, ...dfEvidence], fix);
  return result('non-root', 'pass', `runs as ${raw}${lastUser ? ` (${df!.path}:${lastUser.line})` : ''}`);
}

// ---------------------------------------------------------------------------------------------
/** K=V pairs a history line carries: build args (`|2 A=1 B=2 /bin/sh -c`), ENV/LABEL/ARG nop lines. */
export function historySettings(createdBy: string): { key: string; value: string; kind: string }[] {
  const out: { key: string; value: string; kind: string }[] = [];
  const args = /^(?:RUN )?\|([0-9]+) (.*)$/.exec(createdBy.trim());
  if (args) {
    let rest = args[2];
    for (let n = Number(args[1]); n > 0; n--) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*/.exec(rest);
      if (!m) break;
      out.push({ key: m[1], value: m[2], kind: 'build arg' });
      rest = rest.slice(m[0].length);
    }
  }
  const nop = /(?:#\(nop\)\s+|^)(ENV|LABEL|ARG)\s+(.*)$/s.exec(createdBy.trim());
  if (nop) {
    for (const m of nop[2].matchAll(/([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)/g))
      out.push({ key: m[1], value: m[2].replace(/^"|"$/g, ''), kind: nop[1] });
  }
  return out;
}

export function checkSecrets(f: ImageFacts, lm: LayerMap): CheckResult {
  const ev: Evidence[] = [];
  const seen = new Set<string>();
  const df = f.dockerfile;
  const dfLine = (kw: string, key: string) => {
    const s = df?.settings.find((x) => x.keyword === kw && x.key === key);
    return s && df ? `${df.path}:${s.line} ${kw} ${key}=…` : undefined;
  };
  for (const e of f.inspect.Config?.Env ?? []) {
    const i = e.indexOf('=');
    const why = secretSetting(e.slice(0, i), e.slice(i + 1));
    if (why && !seen.has(e)) {
      seen.add(e);
      ev.push({
        what: `ENV in the image config: ${why}`,
        instruction: dfLine('ENV', e.slice(0, i)) ?? 'image config Env',
      });
    }
  }
  for (const [k, v] of Object.entries(f.inspect.Config?.Labels ?? {})) {
    const why = secretSetting(k, v);
    if (why && !seen.has(`${k}=${v}`)) {
      seen.add(`${k}=${v}`);
      ev.push({ what: `LABEL in the image config: ${why}`, instruction: dfLine('LABEL', k) ?? 'image config Labels' });
    }
  }
  (f.fs.config?.history ?? []).forEach((h, j) => {
    const cb = h.created_by ?? '';
    const ins = lm.instrOfHistory(j);
    const where = ins && df ? describe(df.path, ins) : `history #${j + 1}: ${shortCreatedBy(cb)}`;
    for (const s of historySettings(cb)) {
      const why = secretSetting(s.key, s.value);
      if (why && !seen.has(`${s.key}=${s.value}`)) {
        seen.add(`${s.key}=${s.value}`);
        ev.push({ what: `${s.kind} recorded in the build history: ${why}`, instruction: where });
      }
    }
    for (const hit of scanText(cb)) {
      const key = `hist:${hit.excerpt}`;
      if ([...seen].some((s) => s.includes(hit.excerpt.replace(/….*$/, '')))) continue;
      if (!seen.has(key)) {
        seen.add(key);
        ev.push({ what: `${hit.pattern} in the build history: ${hit.excerpt}`, instruction: where });
      }
    }
  });
  for (const s of df?.settings ?? []) {
    const why = secretSetting(s.key, s.value);
    if (!why || seen.has(`${s.key}=${s.value ?? ''}`)) continue;
    seen.add(`${s.key}=${s.value ?? ''}`);
    const stage = df!.stages[s.stage];
    ev.push({
      what: `${s.keyword} in the Dockerfile${s.stage >= 0 && s.stage < df!.stages.length - 1 ? ` (stage ${stage?.name ?? s.stage}: not in the final image, still in the Dockerfile and the builder's history)` : ''}: ${why}`,
      instruction: `${df!.path}:${s.line} ${s.keyword} ${s.key}=…`,
      file: df!.path,
    });
  }
  let placeholders = 0;
  const ignored = (p: string) =>
    KNOWN_PLACEHOLDERS.some((re) => re.test(p)) ||
    (f.ignoreSecretPaths ?? []).some((g) => `/${p}` === g || p === g.replace(/^\//, ''));
  f.fs.layers.forEach((l, i) => {
    for (const s of l.secrets) {
      if (ignored(s.path)) {
        placeholders++;
        continue;
      }
      const fate = fateOf(f.fs, i, s.path);
      const added = lm.layerLabel(i);
      const what = fate.visible
        ? `/${s.path} (${formatBytes(s.size)}): ${s.why}; in ${added}`
        : `/${s.path} (${formatBytes(s.size)}): ${s.why}; added in ${added}, ${fate.how} in ${lm.layerLabel(fate.by)}, still in the image's history (docker save extracts it)`;
      ev.push({ what, file: `/${s.path}`, ...lm.ev(i) });
    }
  });
  const note = placeholders
    ? ` (${placeholders} known placeholder${placeholders > 1 ? 's' : ''} ignored, e.g. Debian's ssl-cert snakeoil key)`
    : '';
  if (!ev.length)
    return result(
      'secrets',
      'pass',
      `none in Env, Labels, ${f.fs.config?.history?.length ?? 0} history entries, ${f.fs.layers.length} layers' files${df ? ', the Dockerfile' : ''}${note}`,
    );
  return result(
    'secrets',
    'fail',
    `${ev.length} secret${ev.length > 1 ? 's' : ''} baked into the image or its Dockerfile${note}`,
    ev,
    'remove them from ENV/ARG/LABEL and pass them at run time (compose env_file or secrets); keep secret files out of the build context with .dockerignore (deleting them in a later layer leaves them in the earlier one); rebuild, and rotate every exposed key',
  );
}

// ---------------------------------------------------------------------------------------------
export function checkBasePinned(f: Pick<ImageFacts, 'dockerfile'>): CheckResult {
  const df = f.dockerfile;
  if (!df) return result('base-pinned', 'na', 'no Dockerfile given');
  const bad = unpinnedFroms(df);
  const bases = df.stages.filter((s) => s.from.stageRef === undefined).map((s) => s.from.image);
  if (!bad.length)
    return result('base-pinned', 'pass', `${[...new Set(bases)].join(', ')} (tags; a digest @sha256:… pins exactly)`);
  const ev = (b: (typeof bad)[number]): Evidence => ({
    what: b.why,
    instruction: `${df.path}:${b.from.line} FROM ${b.from.image}${b.from.name ? ` AS ${b.from.name}` : ''}`,
    file: df.path,
    line: b.from.line,
  });
  return result(
    'base-pinned',
    'fail',
    `${bad.length} unpinned FROM`,
    bad.map(ev),
    'name a version tag (node:20.11-alpine) or, better, a digest (node:20.11-alpine@sha256:…), so a rebuild gets the same base',
  );
}

export function checkSize(f: ImageFacts, lm: LayerMap): CheckResult {
  const biggest = f.fs.layers
    .map((l, i) => ({ i, bytes: l.bytes }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 3)
    .filter((x) => x.bytes > 0);
  const ev = biggest.map((b) => ({ what: `${formatBytes(b.bytes)} in layer ${b.i + 1}`, ...lm.ev(b.i) }));
  const over = f.inspect.Size > f.sizeBudget;
  const summary = `${formatBytes(f.inspect.Size)} of ${formatBytes(f.sizeBudget)} budget; biggest: ${biggest.map((b) => `layer ${b.i + 1} ${formatBytes(b.bytes)}`).join(', ')}`;
  if (!over) return { ...result('size', 'pass', summary), evidence: ev };
  return result(
    'size',
    'fail',
    `${formatBytes(f.inspect.Size)} is over the ${formatBytes(f.sizeBudget)} budget`,
    ev,
    'start with the biggest layers listed: a slimmer base, build tools only in a builder stage, package caches removed in the same RUN that made them',
  );
}

export function checkIds(): CheckId[] {
  return Object.keys(CHECKS) as CheckId[];
}
