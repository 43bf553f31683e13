/**
 * What a Dockerfile's RUN lines install and remove with a package manager (apt-get/apt, apk,
 * yum/dnf/microdnf): the only thing the Dockerfile-only audit reads about a stage's packages.
 * The base image's own packages are the image's to tell, never guessed from its name.
 */
import { simpleCommands, type DockerfileFacts, type Instr } from './dockerfile.ts';

const strip = (p: string) => p.replace(/[=~<>].*$/, '').replace(/:[a-z0-9]+$/, '');

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

export interface Installed {
  /** The RUN that installed it. */
  by: Instr;
  /** apk --virtual NAME: removed with `apk del NAME`. */
  group?: string;
}

export interface FinalPackages {
  /** Installed in the final chain and not removed after. */
  installed: Map<string, Installed>;
  /** Removed in the final chain (apt-get purge, apk del, …) and not installed again after: the RUN. */
  removed: Map<string, Instr>;
}

/** The packages the final stage's chain (the final stage and the stages it is built FROM) installs and removes. */
export function finalPackages(df: DockerfileFacts): FinalPackages {
  const installed = new Map<string, Installed>();
  const removed = new Map<string, Instr>();
  for (const i of df.finalChain.filter((x) => x.keyword === 'RUN')) {
    for (const o of packageOps(runText(i.args))) {
      for (const p of o.pkgs) {
        if (o.op === 'add') {
          installed.set(p, { by: i, ...(o.group ? { group: o.group } : {}) });
          removed.delete(p);
          continue;
        }
        removed.set(p, i);
        for (const [k, v] of installed) {
          if (k !== p && v.group !== p) continue;
          installed.delete(k);
          removed.set(k, i);
        }
      }
    }
  }
  return { installed, removed };
}
