/**
 * "No toolchain installed in the final stage", on a Dockerfile without its image: the final stage's
 * chain (it and the stages it is built FROM) decides what it installs: a compiler, build tool or
 * -dev package installed and not removed is ✗ at its RUN line. Installing none passes that part
 * only: the base image may carry a toolchain of its own, which only the image can tell.
 */
import type { CheckResult } from './checks.ts';
import type { DockerfileFacts } from './dockerfile.ts';
import { finalPackages, packageOps, runText } from './installs.ts';
import { at, partly } from './verdict.ts';

/** Compilers and build tools by package name (apt, apk, rpm), and headers packages (-dev, -devel). */
export const BUILD_PKG = new RegExp(
  [
    /^(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+|llvm|gfortran|golang)(?:-[0-9.]+)?$/,
    /^(?:gcc-c\+\+|make|gmake|cmake|ninja-build|build-essential|build-base|autoconf|automake|libtool|binutils)$/,
    /^(?:rustc|cargo|rust|rustup|go|golang-go|linux-headers)$/,
    /-dev$|-devel$/,
  ]
    .map((r) => r.source)
    .join('|'),
);

/** The image the final chain starts from (through FROM <earlier stage>). */
export function rootBase(df: DockerfileFacts): string {
  let s = df.stages[df.stages.length - 1];
  for (let k = 0; s.from.stageRef !== undefined && k < df.stages.length; k++) s = df.stages[s.from.stageRef];
  return s.from.image;
}

const FIX =
  'install compilers only in a builder stage and COPY --from=builder just the built artifacts; or purge them in the ' +
  'same RUN that used them (apt-get purge -y --auto-remove gcc)';

export function toolchainOf(df: DockerfileFacts): CheckResult {
  const base = rootBase(df);
  const needs = base.toLowerCase() === 'scratch' ? 'the files its COPY brings' : `the packages ${base} carries`;
  const tools = [...finalPackages(df).installed].filter(([p]) => BUILD_PKG.test(p));
  if (tools.length) {
    const what = `a build toolchain ships in the final image: ${tools.map(([p]) => p).join(', ')}`;
    const evidence = tools.map(([p, v]) => ({
      ...at(df, v.by),
      what: `${p} installed in the final stage, not removed`,
    }));
    const lines = [...new Set(tools.map(([, v]) => v.by.line))];
    return partly('toolchain', { decided: { status: 'fail', what, lines }, needs, evidence, fix: FIX });
  }
  const installs = df.finalChain.filter(
    (i) => i.keyword === 'RUN' && packageOps(runText(i.args)).some((o) => o.op === 'add'),
  );
  const what =
    'the final stage installs no compiler, build tool or -dev package' +
    (installs.length ? '' : ' (it runs no package install)');
  return partly('toolchain', { decided: { status: 'pass', what, lines: installs.map((i) => i.line) }, needs });
}
