import { result, type CheckResult } from './checks.ts';
import type { ImageFacts, LayerMap } from './audit.ts';
import { composeService } from './compose-checks.ts';
import { describe, lastOf, shellCommands, SHELL_BUILTINS } from './dockerfile.ts';
import { resolvePath, type ImageFs } from './layers.ts';

/** The image's HEALTHCHECK (or the compose file's): there, and running a binary the image has. */

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where a binary is in the image: PATH lookup in the merged filesystem, symlinks followed. */
export function findBinary(fs: ImageFs, cmd: string, pathVar: string): string | undefined {
  const candidates = cmd.includes('/')
    ? [cmd]
    : pathVar
        .split(':')
        .filter(Boolean)
        .map((d) => `${d}/${cmd}`);
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
    const ht = c?.svc?.healthcheck as { test?: string | string[]; disable?: boolean } | undefined;
    if (ht?.test && !ht.disable) {
      test = typeof ht.test === 'string' ? ['CMD-SHELL', ht.test] : ht.test;
      source = `${f.compose!.file} services.${f.compose!.service}.healthcheck`;
    } else {
      const final = df?.stages[df.stages.length - 1];
      return result(
        'healthcheck',
        'fail',
        'no HEALTHCHECK: nothing tells Docker (or compose depends_on) when the app is up',
        [
          {
            what:
              test?.[0] === 'NONE'
                ? 'the image disables the healthcheck (HEALTHCHECK NONE)'
                : 'the image config has no Healthcheck',
            ...(df && final
              ? {
                  instruction: `${df.path}:${final.from.line} FROM ${final.from.image} (final stage: no HEALTHCHECK)`,
                  file: df.path,
                }
              : {}),
          },
          ...(f.compose
            ? [
                {
                  what: `${f.compose.file} services.${f.compose.service} has no healthcheck either`,
                  file: f.compose.file,
                },
              ]
            : []),
        ],
        `add to the final stage: HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ${suggestProbe(f)}`,
      );
    }
  }
  const pathVar = (f.inspect.Config?.Env ?? []).find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const cmds =
    test[0] === 'CMD-SHELL'
      ? ['/bin/sh', ...shellCommands(test.slice(1).join(' ')).filter((c) => !SHELL_BUILTINS.has(c))]
      : test[0] === 'CMD'
        ? [test[1]]
        : [];
  const shown = test[0] === 'CMD-SHELL' ? test.slice(1).join(' ') : test.slice(1).join(' ');
  const missing = [...new Set(cmds)].filter((c) => c && !findBinary(f.fs, c, pathVar));
  if (missing.length)
    return result(
      'healthcheck',
      'fail',
      `the HEALTHCHECK runs ${missing.map((m) => `\`${m}\``).join(', ')}, which the image does not have: it can never pass`,
      [
        {
          what: `\`${shown}\`: ${missing.join(', ')} not found in the image (PATH=${pathVar}, whiteouts applied)`,
          instruction: source,
          ...(df ? { file: df.path } : {}),
        },
      ],
      `probe with a binary the image has: HEALTHCHECK CMD ${suggestProbe(f)} (or install ${missing[0]} in the final stage)`,
    );
  void lm;
  const found = [...new Set(cmds)].map((c) => findBinary(f.fs, c, pathVar)).join(', ');
  return result(
    'healthcheck',
    'pass',
    `\`${shown.length > 70 ? `${shown.slice(0, 70)}…` : shown}\` (${found}; ${source})`,
  );
}

function suggestProbe(f: ImageFacts): string {
  const pathVar = (f.inspect.Config?.Env ?? []).find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const port =
    Object.keys(
      (f.inspect.Config as { ExposedPorts?: Record<string, unknown> } | undefined)?.ExposedPorts ?? {},
    )[0]?.split('/')[0] ?? '8000';
  if (findBinary(f.fs, 'curl', pathVar)) return `curl -fsS http://127.0.0.1:${port}/health || exit 1`;
  if (findBinary(f.fs, 'python3', pathVar))
    return `python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${port}/health', timeout=3)"`;
  if (findBinary(f.fs, 'node', pathVar))
    return `node -e "fetch('http://127.0.0.1:${port}/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"`;
  if (findBinary(f.fs, 'wget', pathVar)) return `wget -qO- http://127.0.0.1:${port}/health || exit 1`;
  return `<a probe binary the image has> (the image has no curl, wget, python3 or node)`;
}
