/**
 * Seed 003's first pre-build item, "Dockerfiles follow multi-stage pattern", which the Dockerfile
 * alone decides: ✓ when there are at least two stages and the final stage takes from an earlier
 * one (COPY --from=<stage name or index>, or FROM <earlier stage>); ✗ otherwise, at the final FROM.
 * The same verdict with or without an image: the image cannot tell how many stages built it.
 */
import { result, type CheckResult, type Evidence } from './checks.ts';
import { copyArgs, type DockerfileFacts, type Instr } from './dockerfile.ts';
import { at, finalFrom, fromEvidence, partly } from './verdict.ts';

const FIX =
  'build in a first stage (FROM python:3.11-slim AS builder: install, compile, bundle there), then start the ' +
  'final stage FROM a slim runtime base and COPY --from=builder only what runs (installed packages, the built app)';

/** The earlier stage a COPY --from=VALUE names: its index, 'arg' for a build arg, undefined for an image. */
export function fromStage(df: DockerfileFacts, value: string, before: number): number | 'arg' | undefined {
  const v = value.replace(/^["']|["']$/g, '');
  if (v.includes('$')) return 'arg';
  if (/^[0-9]+$/.test(v)) return Number(v) < before ? Number(v) : undefined;
  const i = df.stages.findIndex((s, k) => k < before && s.name?.toLowerCase() === v.toLowerCase());
  return i >= 0 ? i : undefined;
}

const stageName = (df: DockerfileFacts, i: number) => df.stages[i].name ?? `#${i}`;

export function multiStageOf(df: DockerfileFacts): CheckResult {
  const last = df.stages.length - 1;
  const fr = finalFrom(df);
  const from = `FROM ${fr.image}${fr.name ? ` AS ${fr.name}` : ''}`;
  if (last < 1) {
    const what = `a single stage (line ${fr.line} ${from}): whatever builds the app ships in the image with it`;
    const evidence = [fromEvidence(df, 'the only stage, so also the final one')];
    return partly('multi-stage', { decided: { status: 'fail', what, lines: [fr.line] }, evidence, fix: FIX });
  }
  const copies: { by: Instr; stage: number }[] = [];
  const byArg: Instr[] = [];
  for (const i of df.stages[last].instructions.filter((x) => x.keyword === 'COPY')) {
    const flag = copyArgs(i.args).flags.find((f) => /^--from=/i.test(f));
    const s = flag === undefined ? undefined : fromStage(df, flag.slice('--from='.length), last);
    if (s === 'arg') byArg.push(i);
    else if (s !== undefined) copies.push({ by: i, stage: s });
  }
  const takes: string[] = [];
  const evidence: Evidence[] = [];
  const lines: number[] = [];
  if (fr.stageRef !== undefined) {
    const name = stageName(df, fr.stageRef);
    takes.push(`is built FROM stage ${name}`);
    evidence.push(fromEvidence(df, `the final stage is built FROM the earlier stage ${name}`));
    lines.push(fr.line);
  }
  if (copies.length) {
    takes.push(`copies from ${[...new Set(copies.map((c) => stageName(df, c.stage)))].join(', ')}`);
    evidence.push(...copies.map((c) => ({ ...at(df, c.by), what: `COPY --from=${stageName(df, c.stage)}` })));
    lines.push(...copies.map((c) => c.by.line));
  }
  if (takes.length) {
    const what = `${last + 1} stages; the final one (line ${fr.line} ${from}) ${takes.join(' and ')}`;
    return partly('multi-stage', { decided: { status: 'pass', what, lines }, evidence });
  }
  if (byArg.length) {
    // not the image's to tell either: the value comes with the build (--build-arg)
    const ev = byArg.map((i) => ({ ...at(df, i), what: 'COPY --from names its stage with a build arg' }));
    const why = `line ${byArg.map((i) => i.line).join(', ')}: COPY --from names its stage with a build arg, set at build time`;
    return result('multi-stage', 'undecided', why, ev);
  }
  const what =
    `${last + 1} stages, but the final one (line ${fr.line} ${from}) neither copies from an earlier stage ` +
    '(COPY --from) nor is built FROM one: the earlier stages do not reach the image';
  const unused = [fromEvidence(df, 'the final stage takes nothing from an earlier stage')];
  return partly('multi-stage', { decided: { status: 'fail', what, lines: [fr.line] }, evidence: unused, fix: FIX });
}

/** With an image too: the Dockerfile decides (no Dockerfile given: not applicable). */
export function checkMultiStage(f: { dockerfile?: DockerfileFacts }): CheckResult {
  return f.dockerfile ? multiStageOf(f.dockerfile) : result('multi-stage', 'na', 'no Dockerfile given');
}
