/**
 * The checks themselves, on facts already gathered (image config, the layer scan, the Dockerfile,
 * the build context listing, the compose file): pure functions, tested without a host.
 */
import { formatBytes } from '../util/bytes.ts';
import { CHECKS, result, type CheckId, type CheckResult, type Evidence } from './checks.ts';
import { alignHistory, describe, lastOf, layerHistory, shellCommands, SHELL_BUILTINS, unpinnedFroms, type DockerfileFacts, type Instr } from './dockerfile.ts';
import { fateOf, keptFile, resolvePath, type ImageFs } from './layers.ts';
import { KNOWN_PLACEHOLDERS, scanText, secretSetting } from './secrets.ts';
import { checkCompose, composeService, interpolate } from './compose-checks.ts';
import { checkDockerignore, excludedBy, MUST_IGNORE } from './dockerignore-check.ts';

export { checkCompose, composeService, interpolate, checkDockerignore, excludedBy, MUST_IGNORE };

export interface ImageInspect {
  Id: string;
  Size: number;
  Config?: { User?: string; Env?: string[] | null; Labels?: Record<string, string> | null; Healthcheck?: { Test?: string[] } | null };
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
  image: string; id?: string; size?: number; layers?: number; dockerfile?: string; checks: CheckResult[];
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

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
      instruction: ins && this.f.dockerfile ? describe(this.f.dockerfile.path, ins) : h?.created_by ? `history: ${shortCreatedBy(h.created_by)}${this.isBase(i) ? ' (base image)' : ''}` : 'base image',
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
  const t = s.replace(/^\/bin\/sh -c (#\(nop\)\s+)?/, '').replace(/\s+/g, ' ').trim();
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
    ? [lastUser ? { what: `the final stage's last USER is ${lastUser.args}`, instruction: describe(df.path, lastUser), file: df.path } : { what: 'the final stage has no USER instruction', instruction: `${df.path}:${final!.from.line} FROM ${final!.from.image}`, file: df.path }]
    : [];
  const fix = 'create a user and switch to it at the end of the final stage: RUN useradd --uid 10001 --create-home app, then USER 10001 (numeric, so Kubernetes runAsNonRoot can verify it)';
  let why: string | undefined;
  if (!user) why = 'the image config has no User: containers run as root';
  else if (user === '0' || user === 'root') why = `the image config's User is ${raw}: root`;
  else if (!/^[0-9]+$/.test(user)) {
    const uid = passwdUid(f, user);
    if (uid === 0) why = `User ${raw} has uid 0 in /etc/passwd: root under another name`;
    else if (uid === undefined) return result('non-root', 'pass', `runs as ${raw} (not in /etc/passwd: check it resolves at run time)`);
  }
  if (why) return result('non-root', 'fail', why, [{ what: why }, ...dfEvidence], fix);
  return result('non-root', 'pass', `runs as ${raw}${lastUser ? ` (${df!.path}:${lastUser.line})` : ''}`);
}

/** Where a binary is in the image: PATH lookup in the merged filesystem, symlinks followed. */
export function findBinary(fs: ImageFs, cmd: string, pathVar: string): string | undefined {
  const candidates = cmd.includes('/') ? [cmd] : pathVar.split(':').filter(Boolean).map((d) => `${d}/${cmd}`);
  for (const c of candidates) {
    const r = resolvePath(fs.merged, c);
    if (r && (r.entry.type === 'file' || r.entry.type === 'link') && (r.entry.mode & 0o111) !== 0) return `/${r.path}`;
  }
  return undefined;
}

export function checkHealthcheck(f: ImageFacts, lm: LayerMap): CheckResult {
  const df = f.dockerfile;
  const hcInstr = df ? lastOf(df.finalChain, 'HEALTHCHECK') : undefined;
  let test = f.inspect.Config?.Healthcheck?.Test;
  let source = hcInstr && df ? describe(df.path, hcInstr) : 'image config';
  if (!test?.length || test[0] === 'NONE') {
    const c = composeService(f);
    const ht = (c?.svc?.healthcheck as { test?: string | string[]; disable?: boolean } | undefined);
    if (ht?.test && !ht.disable) {
      test = typeof ht.test === 'string' ? ['CMD-SHELL', ht.test] : ht.test;
      source = `${f.compose!.file} services.${f.compose!.service}.healthcheck`;
    } else {
      const final = df?.stages[df.stages.length - 1];
      return result('healthcheck', 'fail', 'no HEALTHCHECK: nothing tells Docker (or compose depends_on) when the app is up', [
        { what: test?.[0] === 'NONE' ? 'the image disables the healthcheck (HEALTHCHECK NONE)' : 'the image config has no Healthcheck', ...(df && final ? { instruction: `${df.path}:${final.from.line} FROM ${final.from.image} (final stage: no HEALTHCHECK)`, file: df.path } : {}) },
        ...(f.compose ? [{ what: `${f.compose.file} services.${f.compose.service} has no healthcheck either`, file: f.compose.file }] : []),
      ], `add to the final stage: HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ${suggestProbe(f)}`);
    }
  }
  const pathVar = (f.inspect.Config?.Env ?? []).find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const cmds = test[0] === 'CMD-SHELL' ? ['/bin/sh', ...shellCommands(test.slice(1).join(' ')).filter((c) => !SHELL_BUILTINS.has(c))] : test[0] === 'CMD' ? [test[1]] : [];
  const shown = test[0] === 'CMD-SHELL' ? test.slice(1).join(' ') : test.slice(1).join(' ');
  const missing = [...new Set(cmds)].filter((c) => c && !findBinary(f.fs, c, pathVar));
  if (missing.length)
    return result('healthcheck', 'fail', `the HEALTHCHECK runs ${missing.map((m) => `\`${m}\``).join(', ')}, which the image does not have: it can never pass`, [
      { what: `\`${shown}\`: ${missing.join(', ')} not found in the image (PATH=${pathVar}, whiteouts applied)`, instruction: source, ...(df ? { file: df.path } : {}) },
    ], `probe with a binary the image has: HEALTHCHECK CMD ${suggestProbe(f)} (or install ${missing[0]} in the final stage)`);
  void lm;
  const found = [...new Set(cmds)].map((c) => findBinary(f.fs, c, pathVar)).join(', ');
  return result('healthcheck', 'pass', `\`${shown.length > 70 ? `${shown.slice(0, 70)}…` : shown}\` (${found}; ${source})`);
}

function suggestProbe(f: ImageFacts): string {
  const pathVar = (f.inspect.Config?.Env ?? []).find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const port = Object.keys((f.inspect.Config as { ExposedPorts?: Record<string, unknown> } | undefined)?.ExposedPorts ?? {})[0]?.split('/')[0] ?? '8000';
  if (findBinary(f.fs, 'curl', pathVar)) return `curl -fsS http://127.0.0.1:${port}/health || exit 1`;
  if (findBinary(f.fs, 'python3', pathVar)) return `python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${port}/health', timeout=3)"`;
  if (findBinary(f.fs, 'node', pathVar)) return `node -e "fetch('http://127.0.0.1:${port}/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"`;
  if (findBinary(f.fs, 'wget', pathVar)) return `wget -qO- http://127.0.0.1:${port}/health || exit 1`;
  return `<a probe binary the image has> (the image has no curl, wget, python3 or node)`;
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
    for (const m of nop[2].matchAll(/([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) out.push({ key: m[1], value: m[2].replace(/^"|"$/g, ''), kind: nop[1] });
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
      ev.push({ what: `ENV in the image config: ${why}`, instruction: dfLine('ENV', e.slice(0, i)) ?? 'image config Env' });
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
    ev.push({ what: `${s.keyword} in the Dockerfile${s.stage >= 0 && s.stage < df!.stages.length - 1 ? ` (stage ${stage?.name ?? s.stage}: not in the final image, still in the Dockerfile and the builder's history)` : ''}: ${why}`, instruction: `${df!.path}:${s.line} ${s.keyword} ${s.key}=…`, file: df!.path });
  }
  let placeholders = 0;
  const ignored = (p: string) => KNOWN_PLACEHOLDERS.some((re) => re.test(p)) || (f.ignoreSecretPaths ?? []).some((g) => `/${p}` === g || p === g.replace(/^\//, ''));
  f.fs.layers.forEach((l, i) => {
    for (const s of l.secrets) {
      if (ignored(s.path)) { placeholders++; continue; }
      const fate = fateOf(f.fs, i, s.path);
      const added = lm.layerLabel(i);
      const what = fate.visible
        ? `/${s.path} (${formatBytes(s.size)}): ${s.why}; in ${added}`
        : `/${s.path} (${formatBytes(s.size)}): ${s.why}; added in ${added}, ${fate.how} in ${lm.layerLabel(fate.by)}, still in the image's history (docker save extracts it)`;
      ev.push({ what, file: `/${s.path}`, ...lm.ev(i) });
    }
  });
  const note = placeholders ? ` (${placeholders} known placeholder${placeholders > 1 ? 's' : ''} ignored, e.g. Debian's ssl-cert snakeoil key)` : '';
  if (!ev.length) return result('secrets', 'pass', `none in Env, Labels, ${f.fs.config?.history?.length ?? 0} history entries, ${f.fs.layers.length} layers' files${df ? ', the Dockerfile' : ''}${note}`);
  return result('secrets', 'fail', `${ev.length} secret${ev.length > 1 ? 's' : ''} baked into the image or its Dockerfile${note}`, ev,
    'remove them from ENV/ARG/LABEL and pass them at run time (compose env_file or secrets); keep secret files out of the build context with .dockerignore (deleting them in a later layer leaves them in the earlier one); rebuild, and rotate every exposed key');
}

// ---------------------------------------------------------------------------------------------
const TOOL_BIN = /^usr\/(?:local\/)?bin\/(?:(?:[a-z0-9_]+-linux-gnu-)?(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+)(?:-[0-9.]+)?|make|gmake|cmake)$/;
export const TOOL_PKG =
  /^(gcc|g\+\+|gcc-[0-9.]+|g\+\+-[0-9.]+|cpp-[0-9.]+-never|make|build-essential|build-base|clang|clang-[0-9.]+|cmake)$/;
const NPM_BUNDLED = /^usr\/(local\/)?lib\/node_modules\/(npm|corepack)\//;

/** Installed package names from dpkg's status file or apk's database. */
export function installedPackages(status: string, kind: 'dpkg' | 'apk'): { name: string; version: string }[] {
  const out: { name: string; version: string }[] = [];
  for (const para of status.split(/\n\s*\n/)) {
    if (kind === 'dpkg') {
      const name = /^Package: (.+)$/m.exec(para)?.[1];
      const st = /^Status: (.+)$/m.exec(para)?.[1] ?? '';
      if (name && / installed$/.test(st)) out.push({ name, version: /^Version: (.+)$/m.exec(para)?.[1] ?? '?' });
    } else {
      const name = /^P:(.+)$/m.exec(para)?.[1];
      if (name) out.push({ name, version: /^V:(.+)$/m.exec(para)?.[1] ?? '?' });
    }
  }
  return out;
}

export function checkToolchain(f: ImageFacts, lm: LayerMap): CheckResult {
  const ev: Evidence[] = [];
  for (const [p, e] of f.fs.merged) {
    if (TOOL_BIN.test(p)) {
      const r = resolvePath(f.fs.merged, p);
      if (!r || (r.entry.mode & 0o111) === 0) continue; // a dangling alternatives link
      ev.push({ what: `/${p}${e.type === 'symlink' ? ` -> ${e.link}` : ''}`, file: `/${p}`, ...lm.ev(e.layer) });
    } else if ((/(^|\/)node_modules\/node-gyp\/package\.json$/.test(p) && !NPM_BUNDLED.test(p)) || /^usr\/(local\/)?bin\/node-gyp$/.test(p)) {
      ev.push({ what: `node-gyp: /${p}`, file: `/${p}`, ...lm.ev(e.layer) });
    }
  }
  for (const [db, kind] of [['var/lib/dpkg/status', 'dpkg'], ['lib/apk/db/installed', 'apk']] as const) {
    const data = keptFile(f.fs, db);
    if (!data) continue;
    const layer = f.fs.merged.get(db)!.layer;
    for (const p of installedPackages(data.toString('utf8'), kind).filter((x) => TOOL_PKG.test(x.name)))
      ev.push({ what: `${kind} package ${p.name} ${p.version} installed (/${db})`, file: `/${db}`, ...lm.ev(layer) });
  }
  if (!ev.length) return result('toolchain', 'pass', 'no compiler, make or node-gyp in the merged filesystem or the package database');
  const names = [...new Set(ev.map((e) => /(?:bin\/|package |node-gyp)(?:[a-z0-9_]+-linux-gnu-)?([a-z+]+|node-gyp)/.exec(e.what)?.[1] ?? 'node-gyp'))];
  return result('toolchain', 'fail', `a build toolchain ships in the final image: ${names.slice(0, 6).join(', ')}`, ev.slice(0, 12),
    'install compilers only in a builder stage and COPY --from=builder just the built artifacts; or purge them in the same RUN that used them (apt-get purge -y --auto-remove gcc)');
}

// ---------------------------------------------------------------------------------------------
const normPy = (n: string) => n.toLowerCase().replace(/[-_.]+/g, '_');
export const requirementNames = (text: string) =>
  text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l && !l.startsWith('-')).map((l) => normPy(/^[A-Za-z0-9_.-]+/.exec(l)?.[0] ?? '')).filter(Boolean);

export function checkDevDeps(f: ImageFacts, lm: LayerMap): CheckResult {
  const ev: Evidence[] = [];
  let manifests = 0;
  for (const [p, e] of f.fs.merged) {
    if (!p.endsWith('/package.json') || p.includes('node_modules/') || e.type !== 'file') continue;
    const data = f.fs.layers[e.layer].kept.get(p);
    let pkg: { devDependencies?: Record<string, string> };
    try { pkg = JSON.parse(data?.toString('utf8') ?? ''); } catch { continue; }
    const dir = p.slice(0, -'/package.json'.length);
    const devs = Object.keys(pkg.devDependencies ?? {});
    if (!devs.length) continue;
    manifests++;
    for (const d of devs) {
      const at = `${dir}/node_modules/${d}/package.json`;
      const m = f.fs.merged.get(at);
      if (m) ev.push({ what: `${d} is a devDependency in /${p} and installed at /${dir}/node_modules/${d}`, file: `/${dir}/node_modules/${d}`, ...lm.ev(m.layer) });
    }
  }
  const dev = f.context?.devRequirements;
  if (dev) {
    manifests++;
    const prod = new Set(requirementNames(f.context?.requirements ?? ''));
    const names = requirementNames(dev.text).filter((n) => !prod.has(n));
    for (const [p, e] of f.fs.merged) {
      const m = /(?:site|dist)-packages\/([^/]+)-[^/-]+\.dist-info$/.exec(p);
      if (m && e.type === 'dir' && names.includes(normPy(m[1]))) ev.push({ what: `${m[1]} is only in ${dev.file} and installed at /${p}`, file: `/${p}`, ...lm.ev(e.layer) });
    }
  }
  if (!manifests) return result('dev-deps', 'na', 'no package.json with devDependencies in the image, no requirements-dev file in the context');
  if (!ev.length) return result('dev-deps', 'pass', `no dev dependency installed (${manifests} manifest${manifests > 1 ? 's' : ''} checked)`);
  return result('dev-deps', 'fail', `${ev.length} dev dependenc${ev.length > 1 ? 'ies' : 'y'} in the final image`, ev.slice(0, 12),
    'copy node_modules from a stage that ran `npm ci --omit=dev` (or run `npm prune --omit=dev` before copying); install Python dev requirements only in a builder or test stage');
}

// ---------------------------------------------------------------------------------------------
export function checkBasePinned(f: Pick<ImageFacts, 'dockerfile'>): CheckResult {
  const df = f.dockerfile;
  if (!df) return result('base-pinned', 'na', 'no Dockerfile given');
  const bad = unpinnedFroms(df);
  const bases = df.stages.filter((s) => s.from.stageRef === undefined).map((s) => s.from.image);
  if (!bad.length) return result('base-pinned', 'pass', `${[...new Set(bases)].join(', ')} (tags; a digest @sha256:… pins exactly)`);
  const ev = (b: (typeof bad)[number]): Evidence => ({
    what: b.why,
    instruction: `${df.path}:${b.from.line} FROM ${b.from.image}${b.from.name ? ` AS ${b.from.name}` : ''}`,
    file: df.path,
    line: b.from.line,
  });
  return result('base-pinned', 'fail', `${bad.length} unpinned FROM`, bad.map(ev),
    'name a version tag (node:20.11-alpine) or, better, a digest (node:20.11-alpine@sha256:…), so a rebuild gets the same base');
}

export function checkSize(f: ImageFacts, lm: LayerMap): CheckResult {
  const biggest = f.fs.layers.map((l, i) => ({ i, bytes: l.bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, 3).filter((x) => x.bytes > 0);
  const ev = biggest.map((b) => ({ what: `${formatBytes(b.bytes)} in layer ${b.i + 1}`, ...lm.ev(b.i) }));
  const over = f.inspect.Size > f.sizeBudget;
  const summary = `${formatBytes(f.inspect.Size)} of ${formatBytes(f.sizeBudget)} budget; biggest: ${biggest.map((b) => `layer ${b.i + 1} ${formatBytes(b.bytes)}`).join(', ')}`;
  if (!over) return { ...result('size', 'pass', summary), evidence: ev };
  return result('size', 'fail', `${formatBytes(f.inspect.Size)} is over the ${formatBytes(f.sizeBudget)} budget`, ev,
    'start with the biggest layers listed: a slimmer base, build tools only in a builder stage, package caches removed in the same RUN that made them');
}

export function checkIds(): CheckId[] {
  return Object.keys(CHECKS) as CheckId[];
}
