/**
 * Dockerfile facts for the checklist, read with dockerfile-ast (a real parser: continuation lines,
 * quoting, escape directives, JSON and shell forms), and the mapping from an image's history to
 * the instructions that made each layer.
 */
import { DockerfileParser, type Instruction } from 'dockerfile-ast';

export interface Instr {
  keyword: string;
  /** 1-based line of the instruction's first line */
  line: number;
  /** arguments as written (continuations joined) */
  args: string;
  /** the build stage it belongs to (0-based) */
  stage: number;
}

export interface FromInfo {
  line: number;
  image: string;
  name?: string;
  tag?: string;
  digest?: string;
  stageRef?: number;
  platform?: string;
}

export interface DockerfileFacts {
  path: string;
  stages: { name?: string; from: FromInfo; instructions: Instr[] }[];
  /** The final stage's instructions, preceded by those of the stages it is built FROM. */
  finalChain: Instr[];
  /** Every ENV/ARG/LABEL setting in any stage (and global ARGs). */
  settings: { keyword: string; key: string; value: string | null; line: number; stage: number }[];
}

/** The instruction's arguments as written, flags included (--from=builder), continuation lines joined. */
const textOf = (lines: string[], i: Instruction) => {
  const r = i.getRange();
  const raw = lines
    .slice(r.start.line, r.end.line + 1)
    .map((l) => l.replace(/\\\s*$/, ''))
    .filter((l) => !/^\s*#/.test(l))
    .join(' ');
  return raw
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\S+\s*/, '');
};
const line1 = (i: Instruction) => i.getRange().start.line + 1;

export function parseDockerfile(path: string, content: string): DockerfileFacts {
  const df = DockerfileParser.parse(content);
  const lines = content.split(/\r?\n/);
  const text = (i: Instruction) => textOf(lines, i);
  const stages: DockerfileFacts['stages'] = [];
  const settings: DockerfileFacts['settings'] = [];
  let current = -1;
  for (const ins of df.getInstructions()) {
    const kw = ins.getKeyword().toUpperCase();
    if (kw === 'FROM') {
      const f = ins as unknown as import('dockerfile-ast').From;
      const image = f.getImage() ?? '';
      const name = f.getBuildStage() ?? undefined;
      const refIdx = stages.findIndex(
        (s) => s.name && s.name.toLowerCase() === (f.getImageName() ?? image).toLowerCase() && !f.getImageTag(),
      );
      const from: FromInfo = {
        line: line1(ins),
        image: resolveArgs(df, image, ins),
        ...(name ? { name } : {}),
        ...(f.getImageTag() ? { tag: f.getImageTag()! } : {}),
        ...(f.getImageDigest() ? { digest: f.getImageDigest()! } : {}),
        ...(refIdx >= 0 ? { stageRef: refIdx } : {}),
      };
      stages.push({ ...(name ? { name } : {}), from, instructions: [] });
      current = stages.length - 1;
      continue;
    }
    if (kw === 'ENV' || kw === 'ARG' || kw === 'LABEL') {
      const props = (
        ins as unknown as { getProperties(): { getName(): string; getValue(): string | null }[] }
      ).getProperties();
      for (const p of props)
        settings.push({ keyword: kw, key: p.getName(), value: p.getValue(), line: line1(ins), stage: current });
    }
    if (current >= 0)
      stages[current].instructions.push({ keyword: kw, line: line1(ins), args: text(ins), stage: current });
  }
  const chainOf = (i: number, seen = new Set<number>()): Instr[] => {
    if (i < 0 || seen.has(i)) return [];
    seen.add(i);
    const s = stages[i];
    return [...(s.from.stageRef !== undefined ? chainOf(s.from.stageRef, seen) : []), ...s.instructions];
  };
  return { path, stages, finalChain: chainOf(stages.length - 1), settings };
}

/** Substitute ARGs declared before the first FROM (FROM python:${PY}). */
function resolveArgs(df: import('dockerfile-ast').Dockerfile, image: string, ins: Instruction): string {
  return image.replace(
    /\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g,
    (m, v: string) => df.resolveVariable(v, ins.getRange().start.line) ?? m,
  );
}

/** The base images that are not pinned to a tag: `latest` or no tag at all. Digests pass. */
export function unpinnedFroms(f: DockerfileFacts): { from: FromInfo; why: string }[] {
  const out: { from: FromInfo; why: string }[] = [];
  for (const s of f.stages) {
    const fr = s.from;
    if (fr.stageRef !== undefined || fr.image.toLowerCase() === 'scratch' || fr.digest || /@sha256:/.test(fr.image))
      continue;
    if (/\$/.test(fr.image)) {
      out.push({ from: fr, why: `${fr.image} depends on a build arg without a default` });
      continue;
    }
    // the tag is what follows the last ':' after the last '/' (registry:port/name has a ':' before '/')
    const last = fr.image.slice(fr.image.lastIndexOf('/') + 1);
    const tag = last.includes(':') ? last.slice(last.indexOf(':') + 1) : '';
    if (!tag) out.push({ from: fr, why: `${fr.image} has no tag (means :latest)` });
    else if (tag === 'latest') out.push({ from: fr, why: `${fr.image} uses :latest` });
  }
  return out;
}

export const lastOf = (chain: Instr[], kw: string) => [...chain].reverse().find((i) => i.keyword === kw);
export const describe = (path: string, i: Instr) =>
  `${path}:${i.line} ${i.keyword} ${i.args.length > 90 ? `${i.args.slice(0, 90)}…` : i.args}`;

export interface HistoryItem {
  created_by?: string;
  empty_layer?: boolean;
}

/** The instruction keyword a history entry came from (legacy builder `#(nop) KW`, BuildKit `KW …`, else RUN). */
export function historyKeyword(createdBy: string): string {
  const nop = /#\(nop\)\s+([A-Z]+)/.exec(createdBy);
  if (nop) return nop[1];
  const bk = /^([A-Z]+)\s/.exec(createdBy.trim());
  if (
    bk &&
    [
      'RUN',
      'COPY',
      'ADD',
      'ENV',
      'ARG',
      'LABEL',
      'USER',
      'WORKDIR',
      'EXPOSE',
      'CMD',
      'ENTRYPOINT',
      'HEALTHCHECK',
      'VOLUME',
      'STOPSIGNAL',
      'SHELL',
      'ONBUILD',
      'MAINTAINER',
    ].includes(bk[1])
  )
    return bk[1];
  return 'RUN';
}

/**
 * Match the image's history (oldest first) with the Dockerfile's final chain, from the newest end,
 * as long as the kinds agree (BuildKit records no ARG; the legacy builder does). Returns, per
 * history index, the instruction that made it.
 */
export function alignHistory(history: HistoryItem[], chain: Instr[]): Map<number, Instr> {
  const out = new Map<number, Instr>();
  let k = chain.length - 1;
  for (let j = history.length - 1; j >= 0 && k >= 0; j--) {
    const kw = historyKeyword(history[j].created_by ?? '');
    while (k >= 0 && chain[k].keyword !== kw && chain[k].keyword === 'ARG') k--;
    if (k >= 0 && kw === 'LABEL' && chain[k].keyword !== 'LABEL') continue; // `docker build --label` adds one at the end
    if (k < 0 || chain[k].keyword !== kw) break;
    out.set(j, chain[k]);
    k--;
  }
  return out;
}

/** History index of each layer (layer i is the i-th history entry that is not an empty layer). */
export function layerHistory(history: HistoryItem[]): number[] {
  const out: number[] = [];
  history.forEach((h, j) => {
    if (!h.empty_layer) out.push(j);
  });
  return out;
}

/** Split a shell line into simple commands' words, honouring quotes (operators inside quotes are text). */
export function simpleCommands(cmd: string): string[][] {
  const cmds: string[][] = [[]];
  let word = '';
  let quote: '"' | "'" | undefined;
  let quoted = false;
  const endWord = () => {
    if (word || quoted) cmds[cmds.length - 1].push(word);
    word = '';
    quoted = false;
  };
  const endCmd = () => {
    endWord();
    cmds.push([]);
  };
  for (let i = 0; i < cmd.length; i++) {
    const ch = cmd[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < cmd.length) word += cmd[++i];
      else word += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      quoted = true;
      continue;
    }
    if (ch === '\\' && i + 1 < cmd.length) {
      word += cmd[++i];
      continue;
    }
    if (/\s/.test(ch) && ch !== '\n') {
      endWord();
      continue;
    }
    if (ch === '$' && cmd[i + 1] === '(') {
      endCmd();
      i++;
      continue;
    }
    if (ch === ')') {
      endCmd();
      cmds[cmds.length - 1].push('\0');
      continue;
    } // the rest of the outer command, not a new one
    if (';&|(`\n'.includes(ch)) {
      endCmd();
      if ((ch === '&' || ch === '|') && cmd[i + 1] === ch) i++;
      continue;
    }
    word += ch;
  }
  endWord();
  return cmds.filter((c) => c.length);
}

/** The words a shell command line runs: the first word of each simple command. */
export function shellCommands(cmd: string): string[] {
  const out: string[] = [];
  const wrapper = (w: string) =>
    ['exec', 'command', 'env', 'nice', 'timeout', '!', 'then', 'do', 'else', 'if', 'while', 'until'].includes(
      w.replace(/^\/(usr\/)?bin\//, ''),
    );
  for (const words of simpleCommands(cmd)) {
    let i = 0;
    while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i])) i++; // FOO=bar cmd
    while (i < words.length && wrapper(words[i])) {
      i += words[i] === 'timeout' ? 2 : 1;
      while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i])) i++;
      while (i < words.length && /^-/.test(words[i])) i++;
    }
    const w = words[i];
    if (words[0] === '\0') continue;
    if (w && !/^[<>0-9]/.test(w) && !['fi', 'done', '{', '}', '[[', ']]'].includes(w)) out.push(w);
  }
  return out;
}

/** Shell builtins: nothing to find in the image for them. */
export const SHELL_BUILTINS = new Set([
  'exit',
  'true',
  'false',
  'test',
  '[',
  'echo',
  'cd',
  'printf',
  'return',
  ':',
  'set',
  'export',
  'read',
  'eval',
  'trap',
  'wait',
  'kill',
  'pwd',
  'type',
  'source',
  '.',
]);

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
