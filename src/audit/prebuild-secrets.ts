/**
 * "No hardcoded secrets in Dockerfiles", on a Dockerfile without its image. The Dockerfile (and its
 * context) decides its part: an ENV/ARG/LABEL setting that looks like a secret, or a secret file of
 * the context the final stage copies, is ✗ at its line; none passes that part. Secrets in the
 * image's own files (the base's, what RUN fetched) need the image: that part stays undecided.
 */
import dockerignore, { type Ignore } from '@balena/dockerignore';
import type { CheckResult, Evidence } from './checks.ts';
import type { ContextFacts } from './audit.ts';
import { excludedBy } from './dockerignore-check.ts';
import { copyArgs, type DockerfileFacts } from './dockerfile.ts';
import type { DockerfileOnlyFacts } from './prebuild.ts';
import { secretFileName, secretSetting } from './secrets.ts';
import { at, partly } from './verdict.ts';

const ignore = ((dockerignore as unknown as { default?: unknown }).default ?? dockerignore) as () => Ignore;

/** What only the image can tell about its secrets. */
const NEEDS = 'the files in its layers';

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

/** ENV/ARG/LABEL settings that look like secrets, each at its line (each key=value once). */
function secretSettings(df: DockerfileFacts): Evidence[] {
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
  return ev;
}

const FIX =
  'remove them from ENV/ARG/LABEL and pass them at run time (compose env_file or secrets); keep secret files out of ' +
  'the build context with .dockerignore (deleting them in a later layer leaves them in the earlier one); ' +
  'rotate every exposed key';

export function secretsOf(f: DockerfileOnlyFacts): CheckResult {
  const df = f.dockerfile;
  const ev = [...secretSettings(df), ...(f.context ? copiedSecrets(df, f.context) : [])];
  if (ev.length) {
    const what = `${ev.length} secret${ev.length > 1 ? 's' : ''} baked into the image or its Dockerfile`;
    const lines = [...new Set(ev.map((e) => e.line).filter((l) => l !== undefined))];
    return partly('secrets', { decided: { status: 'fail', what, lines }, needs: NEEDS, evidence: ev, fix: FIX });
  }
  const n = df.settings.length;
  const settings =
    n > 1
      ? `none of its ${n} ENV/ARG/LABEL settings looks like a secret`
      : n
        ? 'its one ENV/ARG/LABEL setting does not look like a secret'
        : 'it has no ENV/ARG/LABEL setting';
  const copies = f.context ? ', its final stage copies no secret file from the context' : '';
  const lines = [...new Set(df.settings.map((s) => s.line))];
  return partly('secrets', { decided: { status: 'pass', what: `${settings}${copies}`, lines }, needs: NEEDS });
}
