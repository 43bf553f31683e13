/**
 * The checklist on a Dockerfile that is not built yet (as hadolint checks one): every check the
 * Dockerfile, its context and its compose file can decide gets ✓ or ✗ with the Dockerfile line as
 * evidence; what only the image can tell (its layers, its size, which binaries it has) is
 * 'undecided' (–), and the summary says so. A ✗ here is a ✗ on the built image too; a pass that
 * depends on the base image's files is left undecided rather than guessed.
 */
import dockerignore, { type Ignore } from '@balena/dockerignore';
import { result, type CheckResult, type Evidence } from './checks.ts';
import {
  checkBasePinned,
  checkCompose,
  checkDockerignore,
  composeService,
  excludedBy,
  TOOL_PKG,
  type ContextFacts,
  type ImageFacts,
  type ImageReport,
} from './audit.ts';
import {
  describe,
  lastOf,
  shellCommands,
  simpleCommands,
  SHELL_BUILTINS,
  type DockerfileFacts,
  type FromInfo,
  type Instr,
} from './dockerfile.ts';
import { secretFileName, secretSetting } from './secrets.ts';

export interface DockerfileOnlyFacts {
  dockerfile: DockerfileFacts;
  context?: ContextFacts;
  compose?: ImageFacts['compose'];
}

/** The summary of a check only the image can decide: what it needs first, then what was seen. */
export const needsImage = (what: string, seen = '') =>
  `needs an image (${what}): run with --image NAME${seen ? `; ${seen}` : ''}`;

const at = (df: DockerfileFacts, i: Instr): Evidence => ({
  what: '',
  instruction: describe(df.path, i),
  file: df.path,
  line: i.line,
});
const finalFrom = (df: DockerfileFacts) => df.stages[df.stages.length - 1].from;
const fromEvidence = (df: DockerfileFacts, what: string): Evidence => {
  const fr = finalFrom(df);
  return { what, instruction: `${df.path}:${fr.line} FROM ${fr.image}`, file: df.path, line: fr.line };
};

export function auditDockerfile(f: DockerfileOnlyFacts): ImageReport {
  const checks: CheckResult[] = [
    nonRootOf(f.dockerfile),
    healthcheckOf(f),
    secretsOf(f),
    toolchainOf(f.dockerfile),
    result('dev-deps', 'undecided', needsImage('what its node_modules and site-packages hold')),
    basePinnedOf(f.dockerfile),
    result('size', 'undecided', needsImage('its size')),
    checkDockerignore(f),
    ...checkCompose(f),
  ];
  return { image: f.dockerfile.path, dockerfile: f.dockerfile.path, checks };
}

const NON_ROOT_FIX =
  'create a user and switch to it at the end of the final stage: RUN useradd --uid 10001 ' +
  '--create-home app, then USER 10001 (numeric, so Kubernetes runAsNonRoot can verify it)';

export function nonRootOf(df: DockerfileFacts): CheckResult {
  const u = lastOf(df.finalChain, 'USER');
  if (!u) {
    const base = finalFrom(df).image;
    const why = `the final stage sets no USER: it runs as ${base}'s user, root unless that image sets one`;
    return result('non-root', 'fail', why, [fromEvidence(df, 'the final stage has no USER instruction')], NON_ROOT_FIX);
  }
  const user = u.args.trim().split(':')[0];
  const ev = { ...at(df, u), what: `the final stage's last USER is ${u.args}` };
  if (user.includes('$'))
    return result('non-root', 'undecided', needsImage('the user a build arg makes', `USER ${u.args}`), [ev]);
  if (user === '0' || user === 'root')
    return result('non-root', 'fail', `the final stage's last USER is ${u.args}: root`, [ev], NON_ROOT_FIX);
  const note = /^[0-9]+$/.test(user) ? '' : "; a name: its uid is in the image's /etc/passwd, checked with --image";
  return { ...result('non-root', 'pass', `runs as ${u.args} (line ${u.line}${note})`), evidence: [ev] };
}

/** The binaries a HEALTHCHECK's command runs (`HEALTHCHECK [options] CMD …`, shell or exec form). */
export function healthcheckCommands(args: string): string[] {
  const cmd = args.replace(/^(?:--\S+\s+)*CMD\s+/i, '');
  if (cmd.startsWith('[')) {
    try {
      return [(JSON.parse(cmd) as string[])[0]].filter(Boolean);
    } catch {
      /* shell form after all */
    }
  }
  return ['/bin/sh', ...new Set(shellCommands(cmd).filter((c) => !SHELL_BUILTINS.has(c)))];
}

export function healthcheckOf(f: DockerfileOnlyFacts): CheckResult {
  const df = f.dockerfile;
  const hc = lastOf(df.finalChain, 'HEALTHCHECK');
  const fix =
    'add to the final stage: HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD <a probe the image has, ' +
    'e.g. curl -fsS http://127.0.0.1:PORT/health || exit 1>';
  if (hc && /^NONE\b/i.test(hc.args.trim())) {
    const ev = { ...at(df, hc), what: 'HEALTHCHECK NONE' };
    return result('healthcheck', 'fail', 'HEALTHCHECK NONE: the healthcheck is disabled', [ev], fix);
  }
  const runs = (cmds: string[]) => cmds.map((c) => `\`${c}\``).join(', ');
  if (hc) {
    const cmds = healthcheckCommands(hc.args);
    const ev = { ...at(df, hc), what: `HEALTHCHECK runs ${runs(cmds)}` };
    const summary = needsImage(`does it have ${cmds.join(', ')}?`, `HEALTHCHECK at line ${hc.line}`);
    return result('healthcheck', 'undecided', summary, [ev]);
  }
  const ht = composeService(f)?.svc?.healthcheck as { test?: string | string[]; disable?: boolean } | undefined;
  if (ht?.test && !ht.disable) {
    const test = typeof ht.test === 'string' ? ['CMD-SHELL', ht.test] : ht.test;
    const where = `${f.compose!.file} services.${f.compose!.service}.healthcheck`;
    const cmds = test[0] === 'CMD' ? [test[1]] : healthcheckCommands(test.slice(1).join(' '));
    return result(
      'healthcheck',
      'undecided',
      needsImage(`does it have ${cmds.join(', ')}?`, `healthcheck in ${where}`),
      [{ what: `compose healthcheck runs ${runs(cmds)}`, file: f.compose!.file }],
    );
  }
  const c = f.compose;
  const why = 'no HEALTHCHECK: nothing tells Docker (or compose depends_on) when the app is up';
  return result(
    'healthcheck',
    'fail',
    why,
    [
      fromEvidence(df, 'the final stage has no HEALTHCHECK'),
      ...(c ? [{ what: `${c.file} services.${c.service} has no healthcheck either`, file: c.file }] : []),
    ],
    fix,
  );
}

/** base-pinned as on an image, with each base's FROM line as the evidence of a pass too. */
export function basePinnedOf(df: DockerfileFacts): CheckResult {
  const r = checkBasePinned({ dockerfile: df });
  if (r.status !== 'pass') return r;
  const bases = df.stages.filter((s) => s.from.stageRef === undefined).map((s) => s.from);
  const ev = (b: FromInfo) => ({
    what: `FROM ${b.image}`,
    instruction: `${df.path}:${b.line} FROM ${b.image}`,
    file: df.path,
    line: b.line,
  });
  return { ...r, evidence: bases.map(ev) };
}

// ---------------------------------------------------------------------------------------------
const ignore = ((dockerignore as unknown as { default?: unknown }).default ?? dockerignore) as () => Ignore;

/** A COPY/ADD's flags and sources (the last word is the destination); exec (JSON) form too. */
export function copyArgs(args: string): { flags: string[]; sources: string[] } {
  let words: string[];
  const flags: string[] = [];
  let rest = args.trim();
  for (let m = /^(--\S+)\s+/.exec(rest); m; m = /^(--\S+)\s+/.exec(rest)) {
    flags.push(m[1]);
    rest = rest.slice(m[0].length);
  }
  try {
    words = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  } catch {
    words = rest.split(/\s+/);
  }
  return { flags, sources: words.slice(0, -1).filter((w) => !w.startsWith('<<')) };
}

/** Does a COPY source (context-relative, globs allowed) take this context path (or a dir above it)? */
export function sourceTakes(source: string, path: string): boolean {
  const s = source
    .replace(/^(\.\/)+/, '')
    .replace(/^\/+/, '')
    .replace(/\/+$/, '');
  if (s === '' || s === '.') return true;
  return excludedBy(ignore().add(s), path);
}

/** Secret-named context files the final stage's COPY/ADD takes, and .dockerignore lets through. */
function copiedSecrets(df: DockerfileFacts, c: ContextFacts): Evidence[] {
  const ig = c.dockerignore === null ? undefined : ignore().add(c.dockerignore);
  const secret = c.files.filter((p) => secretFileName(p) === 'secret' && !(ig && excludedBy(ig, p)));
  const ev: Evidence[] = [];
  for (const i of df.finalChain.filter((x) => x.keyword === 'COPY' || x.keyword === 'ADD')) {
    const { flags, sources } = copyArgs(i.args);
    if (flags.some((fl) => /^--from=/.test(fl))) continue;
    for (const p of secret) {
      if (!sources.some((s) => !/^[a-z]+:\/\/|^git@/.test(s) && sourceTakes(s, p))) continue;
      const why = c.dockerignore === null ? ', no .dockerignore' : '';
      ev.push({
        ...at(df, i),
        what:
          `${c.dir}/${p} (a secret file in the context${why}) is copied into the image; ` +
          'deleting it in a later layer leaves it in this one',
        file: `${c.dir}/${p}`,
      });
    }
  }
  return ev;
}

export function secretsOf(f: DockerfileOnlyFacts): CheckResult {
  const df = f.dockerfile;
  const ev: Evidence[] = [];
  const seen = new Set<string>();
  for (const s of df.settings) {
    const why = secretSetting(s.key, s.value);
    if (!why || seen.has(`${s.key}=${s.value ?? ''}`)) continue;
    seen.add(`${s.key}=${s.value ?? ''}`);
    const builder = s.stage >= 0 && !df.finalChain.some((i) => i.stage === s.stage);
    const stage = builder
      ? ` (stage ${df.stages[s.stage].name ?? s.stage}: not in the final image, ` +
        "still in the Dockerfile and the builder's history)"
      : '';
    const instruction = `${df.path}:${s.line} ${s.keyword} ${s.key}=…`;
    ev.push({ what: `${s.keyword} in the Dockerfile${stage}: ${why}`, instruction, file: df.path, line: s.line });
  }
  ev.push(...(f.context ? copiedSecrets(df, f.context) : []));
  if (!ev.length) {
    const copies = f.context ? ' or in the context files its final stage copies' : '';
    return result('secrets', 'undecided', needsImage('the files in its layers', `none in ENV/ARG/LABEL${copies}`));
  }
  const what = `${ev.length} secret${ev.length > 1 ? 's' : ''} baked into the image or its Dockerfile`;
  return result(
    'secrets',
    'fail',
    what,
    ev,
    'remove them from ENV/ARG/LABEL and pass them at run time (compose env_file or secrets); keep secret files out of ' +
      'the build context with .dockerignore (deleting them in a later layer leaves them in the earlier one); ' +
      'rotate every exposed key',
  );
}

// ---------------------------------------------------------------------------------------------
const strip = (p: string) => p.replace(/[=~<>].*$/, '').replace(/:[a-z0-9]+$/, '');
const isTool = (p: string) => TOOL_PKG.test(p) || p === 'gcc-c++';

const APT = { install: 'add', remove: 'del', purge: 'del' } as const;
const RPM = { install: 'add', remove: 'del', erase: 'del' } as const;
const PKG_OPS: Record<string, Record<string, 'add' | 'del'> | undefined> = {
  apt: APT,
  'apt-get': APT,
  apk: { add: 'add', del: 'del' },
  yum: RPM,
  dnf: RPM,
  microdnf: RPM,
};

/** Packages a shell line installs and removes (apt-get/apt, apk, yum/dnf/microdnf); apk --virtual groups kept. */
export function packageOps(cmd: string): { op: 'add' | 'del'; pkgs: string[]; group?: string }[] {
  const out: { op: 'add' | 'del'; pkgs: string[]; group?: string }[] = [];
  for (let words of simpleCommands(cmd)) {
    while (words.length && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]) || words[0] === 'sudo')) words = words.slice(1);
    const tool = (words[0] ?? '').replace(/^.*\//, '');
    const sub = words.slice(1).find((w) => !w.startsWith('-'));
    const op = PKG_OPS[tool]?.[sub ?? ''];
    if (!op) continue;
    const args = words.slice(words.indexOf(sub!) + 1);
    let group: string | undefined;
    const pkgs: string[] = [];
    for (let i = 0; i < args.length; i++) {
      if (tool === 'apk' && (args[i] === '--virtual' || args[i] === '-t')) group = args[++i];
      else if (!args[i].startsWith('-') && args[i] !== '\0') pkgs.push(strip(args[i]));
    }
    out.push({ op, pkgs, ...(group ? { group } : {}) });
  }
  return out;
}

/** A RUN's shell line: flags (--mount=…) dropped; exec form ["sh", "-c", "…"] unwrapped. */
export function runText(args: string): string {
  const cmd = args.replace(/^(?:--\S+\s+)*/, '');
  if (!cmd.startsWith('[')) return cmd;
  try {
    const a = JSON.parse(cmd) as string[];
    return /(^|\/)(ba|da|a)?sh$/.test(a[0] ?? '') && a[1] === '-c' ? (a[2] ?? '') : a.join(' ');
  } catch {
    return cmd;
  }
}

export function toolchainOf(df: DockerfileFacts): CheckResult {
  const installed = new Map<string, { by: Instr; group?: string }>();
  for (const i of df.finalChain.filter((x) => x.keyword === 'RUN')) {
    for (const o of packageOps(runText(i.args))) {
      for (const p of o.pkgs) {
        if (o.op === 'add' && isTool(p)) installed.set(p, { by: i, ...(o.group ? { group: o.group } : {}) });
        if (o.op === 'del') for (const [k, v] of installed) if (k === p || v.group === p) installed.delete(k);
      }
    }
  }
  if (!installed.size) {
    const summary = needsImage("the base image's packages", 'the final stage installs no compiler');
    return result('toolchain', 'undecided', summary);
  }
  const ev = [...installed].map(([p, v]) => ({
    ...at(df, v.by),
    what: `${p} installed in the final stage, not removed`,
  }));
  const what = `a build toolchain ships in the final image: ${[...installed.keys()].join(', ')}`;
  return result(
    'toolchain',
    'fail',
    what,
    ev,
    'install compilers only in a builder stage and COPY --from=builder just the built artifacts; or purge them in the ' +
      'same RUN that used them (apt-get purge -y --auto-remove gcc)',
  );
}
