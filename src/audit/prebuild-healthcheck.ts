/**
 * "HEALTHCHECK present, its command in the image", on a Dockerfile without its image. The
 * Dockerfile decides presence: none (or NONE) is ✗ at its line. Whether the image has the binaries
 * the HEALTHCHECK runs is decided only from what the final stage's chain installs (apt-get install
 * curl, apk add wget, … not removed after) and, for /bin/sh, from a shell-form RUN that ran in it;
 * what the base image carries is never guessed from its name: those binaries need the image.
 */
import type { CheckResult, Evidence } from './checks.ts';
import { composeService } from './compose-checks.ts';
import { lastOf, shellCommands, SHELL_BUILTINS, type DockerfileFacts, type Instr } from './dockerfile.ts';
import { finalPackages } from './installs.ts';
import type { DockerfileOnlyFacts } from './prebuild.ts';
import { at, fromEvidence, partly } from './verdict.ts';

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

/** Packages that install a binary under another name than its own. */
const PROVIDERS: Record<string, string[]> = {
  nc: ['netcat-openbsd', 'netcat-traditional', 'netcat', 'nmap-ncat'],
  node: ['nodejs'],
};

/** The first shell-form RUN of the final chain before any SHELL: it ran in the image's /bin/sh. */
export function shellRun(df: DockerfileFacts): Instr | undefined {
  for (const i of df.finalChain) {
    if (i.keyword === 'SHELL') return undefined;
    if (i.keyword === 'RUN' && !i.args.replace(/^(?:--\S+\s+)*/, '').startsWith('[')) return i;
  }
  return undefined;
}

/** Where the Dockerfile shows the image has a binary: the RUN that installed it (or ran in /bin/sh). */
export function installedBinary(df: DockerfileFacts, cmd: string): { by: Instr; how: string } | undefined {
  if (cmd === '/bin/sh' || cmd === 'sh') {
    const sh = shellRun(df);
    return sh && { by: sh, how: `${cmd} ran the RUN at line ${sh.line}` };
  }
  const m = /^(?:\/(?:usr\/)?bin\/)?([^/]+)$/.exec(cmd); // a package's binary is in /usr/bin (or /bin)
  if (!m) return undefined;
  const installed = finalPackages(df).installed;
  const pkg = [m[1], ...(PROVIDERS[m[1]] ?? [])].find((p) => installed.has(p));
  if (!pkg) return undefined;
  const by = installed.get(pkg)!.by;
  return { by, how: `${pkg === m[1] ? pkg : `${pkg} (${m[1]})`} installed at line ${by.line}` };
}

const FIX =
  'add to the final stage: HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD <a probe the image has, ' +
  'e.g. curl -fsS http://127.0.0.1:PORT/health || exit 1>';

/** A healthcheck that is there: ✓ when the final chain installs every binary it runs, else – for the rest. */
function probe(df: DockerfileFacts, cmds: string[], where: string, lines: number[], ev: Evidence): CheckResult {
  const found = cmds.map((c) => ({ c, has: installedBinary(df, c) }));
  const open = found.filter((x) => !x.has).map((x) => x.c);
  const shown = found.filter((x) => x.has).map((x) => x.has!);
  const what = `${where} runs ${cmds.join(', ')}${shown.length ? `: ${shown.map((s) => s.how).join('; ')}` : ''}`;
  const all = [...lines, ...shown.map((s) => s.by.line)];
  const evidence = [ev, ...shown.map((s) => ({ ...at(df, s.by), what: s.how }))];
  const needs = open.length ? `does it have ${open.join(', ')}?` : undefined;
  return partly('healthcheck', {
    decided: { status: 'pass', what, lines: all },
    ...(needs ? { needs } : {}),
    evidence,
  });
}

export function healthcheckOf(f: DockerfileOnlyFacts): CheckResult {
  const df = f.dockerfile;
  const hc = lastOf(df.finalChain, 'HEALTHCHECK');
  if (hc && /^NONE\b/i.test(hc.args.trim())) {
    const what = 'HEALTHCHECK NONE: the healthcheck is disabled';
    const evidence = [{ ...at(df, hc), what: 'HEALTHCHECK NONE' }];
    return partly('healthcheck', { decided: { status: 'fail', what, lines: [hc.line] }, evidence, fix: FIX });
  }
  const runs = (cmds: string[]) => cmds.map((c) => `\`${c}\``).join(', ');
  if (hc) {
    const cmds = healthcheckCommands(hc.args);
    const ev = { ...at(df, hc), what: `HEALTHCHECK runs ${runs(cmds)}` };
    return probe(df, cmds, `HEALTHCHECK at line ${hc.line}`, [hc.line], ev);
  }
  const ht = composeService(f)?.svc?.healthcheck as { test?: string | string[]; disable?: boolean } | undefined;
  if (ht?.test && !ht.disable) {
    const test = typeof ht.test === 'string' ? ['CMD-SHELL', ht.test] : ht.test;
    const where = `${f.compose!.file} services.${f.compose!.service}.healthcheck`;
    const cmds = test[0] === 'CMD' ? [test[1]] : healthcheckCommands(test.slice(1).join(' '));
    const ev = { what: `compose healthcheck runs ${runs(cmds)}`, file: f.compose!.file };
    return probe(df, cmds, `the healthcheck in ${where}`, [], ev);
  }
  const c = f.compose;
  const what = 'no HEALTHCHECK: nothing tells Docker (or compose depends_on) when the app is up';
  const evidence = [
    fromEvidence(df, 'the final stage has no HEALTHCHECK'),
    ...(c ? [{ what: `${c.file} services.${c.service} has no healthcheck either`, file: c.file }] : []),
  ];
  const lines = [evidence[0].line!];
  return partly('healthcheck', { decided: { status: 'fail', what, lines }, evidence, fix: FIX });
}
