import { result, type CheckResult, type Evidence } from './checks.ts';
import type { ImageFacts, LayerMap } from './audit.ts';
import { keptFile, resolvePath } from './layers.ts';

/** What only the build needs, left in the final image: a compiler toolchain, dev dependencies. */

const TOOL_BIN =
  /^usr\/(?:local\/)?bin\/(?:(?:[a-z0-9_]+-linux-gnu-)?(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+)(?:-[0-9.]+)?|make|gmake|cmake)$/;
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
    } else if (
      (/(^|\/)node_modules\/node-gyp\/package\.json$/.test(p) && !NPM_BUNDLED.test(p)) ||
      /^usr\/(local\/)?bin\/node-gyp$/.test(p)
    ) {
      ev.push({ what: `node-gyp: /${p}`, file: `/${p}`, ...lm.ev(e.layer) });
    }
  }
  for (const [db, kind] of [
    ['var/lib/dpkg/status', 'dpkg'],
    ['lib/apk/db/installed', 'apk'],
  ] as const) {
    const data = keptFile(f.fs, db);
    if (!data) continue;
    const layer = f.fs.merged.get(db)!.layer;
    for (const p of installedPackages(data.toString('utf8'), kind).filter((x) => TOOL_PKG.test(x.name)))
      ev.push({ what: `${kind} package ${p.name} ${p.version} installed (/${db})`, file: `/${db}`, ...lm.ev(layer) });
  }
  if (!ev.length)
    return result(
      'toolchain',
      'pass',
      'no compiler, make or node-gyp in the merged filesystem or the package database',
    );
  const names = [
    ...new Set(
      ev.map(
        (e) =>
          /(?:bin\/|package |node-gyp)(?:[a-z0-9_]+-linux-gnu-)?([a-z+]+|node-gyp)/.exec(e.what)?.[1] ?? 'node-gyp',
      ),
    ),
  ];
  return result(
    'toolchain',
    'fail',
    `a build toolchain ships in the final image: ${names.slice(0, 6).join(', ')}`,
    ev.slice(0, 12),
    'install compilers only in a builder stage and COPY --from=builder just the built artifacts; or purge them in the same RUN that used them (apt-get purge -y --auto-remove gcc)',
  );
}

// ---------------------------------------------------------------------------------------------
const normPy = (n: string) => n.toLowerCase().replace(/[-_.]+/g, '_');
export const requirementNames = (text: string) =>
  text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l && !l.startsWith('-'))
    .map((l) => normPy(/^[A-Za-z0-9_.-]+/.exec(l)?.[0] ?? ''))
    .filter(Boolean);

export function checkDevDeps(f: ImageFacts, lm: LayerMap): CheckResult {
  const ev: Evidence[] = [];
  let manifests = 0;
  for (const [p, e] of f.fs.merged) {
    if (!p.endsWith('/package.json') || p.includes('node_modules/') || e.type !== 'file') continue;
    const data = f.fs.layers[e.layer].kept.get(p);
    let pkg: { devDependencies?: Record<string, string> };
    try {
      pkg = JSON.parse(data?.toString('utf8') ?? '');
    } catch {
      continue;
    }
    const dir = p.slice(0, -'/package.json'.length);
    const devs = Object.keys(pkg.devDependencies ?? {});
    if (!devs.length) continue;
    manifests++;
    for (const d of devs) {
      const at = `${dir}/node_modules/${d}/package.json`;
      const m = f.fs.merged.get(at);
      if (m)
        ev.push({
          what: `${d} is a devDependency in /${p} and installed at /${dir}/node_modules/${d}`,
          file: `/${dir}/node_modules/${d}`,
          ...lm.ev(m.layer),
        });
    }
  }
  const dev = f.context?.devRequirements;
  if (dev) {
    manifests++;
    const prod = new Set(requirementNames(f.context?.requirements ?? ''));
    const names = requirementNames(dev.text).filter((n) => !prod.has(n));
    for (const [p, e] of f.fs.merged) {
      const m = /(?:site|dist)-packages\/([^/]+)-[^/-]+\.dist-info$/.exec(p);
      if (m && e.type === 'dir' && names.includes(normPy(m[1])))
        ev.push({ what: `${m[1]} is only in ${dev.file} and installed at /${p}`, file: `/${p}`, ...lm.ev(e.layer) });
    }
  }
  if (!manifests)
    return result(
      'dev-deps',
      'na',
      'no package.json with devDependencies in the image, no requirements-dev file in the context',
    );
  if (!ev.length)
    return result(
      'dev-deps',
      'pass',
      `no dev dependency installed (${manifests} manifest${manifests > 1 ? 's' : ''} checked)`,
    );
  return result(
    'dev-deps',
    'fail',
    `${ev.length} dev dependenc${ev.length > 1 ? 'ies' : 'y'} in the final image`,
    ev.slice(0, 12),
    'copy node_modules from a stage that ran `npm ci --omit=dev` (or run `npm prune --omit=dev` before copying); install Python dev requirements only in a builder or test stage',
  );
}
