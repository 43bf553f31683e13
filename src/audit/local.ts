/**
 * A Dockerfile not built yet, read from this machine's disk (no host, no Docker): the Dockerfile,
 * its build context (the Dockerfile's directory unless --context) and, when given, the compose file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../util/errors.ts';
import { BULKY_DIRS, SENSITIVE_NAMES, gatherCompose, gatherContext, type Reader } from './context.ts';
import { parseDockerfile } from './dockerfile.ts';
import type { DockerfileOnlyFacts } from './prebuild.ts';

const glob = (g: string) =>
  new RegExp(
    `^${g
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
const NAMES = SENSITIVE_NAMES.map(glob);
const LIMIT = 5000;

/** What `find` lists on the host (gather.ts), here: sensitive names, and the bulky dirs, not descended into. */
export function listSensitive(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const entries = readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      if (out.length >= LIMIT) return;
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (BULKY_DIRS.includes(e.name)) {
        out.push(p);
        continue;
      }
      if (NAMES.some((re) => re.test(e.name))) out.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  walk('');
  return out;
}

function readLocal(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new UserError(`cannot read ${path}: ${code === 'EISDIR' ? 'a directory, not a file' : (e as Error).message}`);
  }
}

export const localReader: Reader = {
  where: 'here',
  read: async (path) => readLocal(path),
  sensitive: async (dir) => listSensitive(dir),
};

export interface LocalOptions {
  dockerfile: string;
  context?: string;
  compose?: { file: string; service: string };
}

export async function gatherLocal(o: LocalOptions): Promise<DockerfileOnlyFacts> {
  const path = resolve(o.dockerfile);
  let text: string | null;
  try {
    text = readLocal(path);
  } catch (e) {
    const why = (e as Error).message.replace(/^cannot read \S+: /, '');
    throw new UserError(`--dockerfile ${o.dockerfile}: ${why}: give the Dockerfile's path`);
  }
  const where = 'a path on this machine; with --image, on the host';
  if (text === null) throw new UserError(`Dockerfile ${o.dockerfile} does not exist: fix --dockerfile (${where})`);
  const dockerfile = parseDockerfile(path, text);
  if (!dockerfile.stages.length)
    throw new UserError(`${o.dockerfile} has no FROM: is it a Dockerfile? fix --dockerfile`);
  const dir = resolve(o.context ?? dirname(path));
  const context = await gatherContext(localReader, dir, o.context ? '--context' : '--dockerfile');
  const compose = o.compose
    ? await gatherCompose(localReader, { ...o.compose, file: resolve(o.compose.file) }, '--compose')
    : undefined;
  return { dockerfile, context, ...(compose ? { compose } : {}) };
}
