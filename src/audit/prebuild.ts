/**
 * The checklist on a Dockerfile that is not built yet (as hadolint checks one): every check the
 * Dockerfile, its context and its compose file can decide gets ✓ or ✗ with the Dockerfile line as
 * evidence; what only the image can tell (its layers, its size, which binaries it has) is
 * 'undecided' (–), and the summary says so. A ✗ here is a ✗ on the built image too; a pass that
 * depends on the base image's files is left undecided rather than guessed. A check the Dockerfile
 * decides in part (secrets, healthcheck, toolchain, multi-stage) carries `decided` (its verdict on
 * that part, with the lines) and `needs` (what only the image can tell), apart (verdict.ts).
 */
import { result, type CheckResult } from './checks.ts';
import {
  checkBasePinned,
  checkCompose,
  checkDockerignore,
  type ContextFacts,
  type ImageFacts,
  type ImageReport,
} from './audit.ts';
import { lastOf, type DockerfileFacts, type FromInfo } from './dockerfile.ts';
import { multiStageOf } from './multistage-check.ts';
import { healthcheckOf } from './prebuild-healthcheck.ts';
import { secretsOf } from './prebuild-secrets.ts';
import { toolchainOf } from './prebuild-toolchain.ts';
import { at, finalFrom, fromEvidence, needsImage } from './verdict.ts';

export { copyArgs } from './dockerfile.ts';
export { packageOps, runText } from './installs.ts';
export { multiStageOf } from './multistage-check.ts';
export { healthcheckCommands, healthcheckOf } from './prebuild-healthcheck.ts';
export { secretsOf, sourceTakes } from './prebuild-secrets.ts';
export { toolchainOf } from './prebuild-toolchain.ts';
export { needsImage } from './verdict.ts';

export interface DockerfileOnlyFacts {
  dockerfile: DockerfileFacts;
  context?: ContextFacts;
  compose?: ImageFacts['compose'];
}

export function auditDockerfile(f: DockerfileOnlyFacts): ImageReport {
  const checks: CheckResult[] = [
    nonRootOf(f.dockerfile),
    healthcheckOf(f),
    secretsOf(f),
    toolchainOf(f.dockerfile),
    result('dev-deps', 'undecided', needsImage('what its node_modules and site-packages hold')),
    multiStageOf(f.dockerfile),
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
