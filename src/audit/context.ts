/**
 * The build context and the compose file, read through a Reader: over SSH on the host (gather.ts,
 * for a built image) or from the local disk (local.ts, for a Dockerfile not built yet). The facts
 * and the errors are the same whichever side the files are on.
 */
import { posix } from 'node:path';
import { UserError } from '../util/errors.ts';
import type { ContextFacts, ImageFacts } from './audit.ts';
import type { ImageConfig } from './config.ts';

export interface Reader {
  /** where the files are, for error messages: "on the host", "here" */
  where: string;
  /** a file's text, or null when it does not exist */
  read(path: string): Promise<string | null>;
  /** paths (relative to dir) named in SENSITIVE_NAMES, and BULKY_DIRS (pruned), at most 5000; throws if no dir */
  sensitive(dir: string): Promise<string[]>;
}

/** Bulky dirs a context should not send (listed, not descended into). */
export const BULKY_DIRS = ['.git', 'node_modules', 'venv', '.venv'];
/** File names worth checking in a context (find -name globs). */
export const SENSITIVE_NAMES = [
  '.env',
  '.env.*',
  'id_rsa',
  'id_dsa',
  'id_ecdsa',
  'id_ed25519',
  '*.pem',
  '*.key',
  '*.p12',
  '*.pfx',
  '.npmrc',
  '.pypirc',
  '.netrc',
  '.git-credentials',
  '.pgpass',
];

export async function gatherContext(r: Reader, dir: string, field: string): Promise<ContextFacts> {
  let files: string[];
  try {
    files = await r.sensitive(dir);
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    throw new UserError(`build context ${dir} is not a readable directory ${r.where}: fix \`${field}\` (${why})`);
  }
  const dockerignore = await r.read(posix.join(dir, '.dockerignore'));
  const requirements = (await r.read(posix.join(dir, 'requirements.txt'))) ?? undefined;
  let devRequirements: ContextFacts['devRequirements'];
  for (const f of ['requirements-dev.txt', 'dev-requirements.txt', 'requirements/dev.txt']) {
    const text = await r.read(posix.join(dir, f));
    if (text !== null) {
      devRequirements = { file: f, text };
      break;
    }
  }
  return {
    dir,
    dockerignore,
    files,
    ...(requirements !== undefined ? { requirements } : {}),
    ...(devRequirements ? { devRequirements } : {}),
  };
}

/** Compose's own default: variables from the .env beside the compose file. `field` names where the file was given. */
export async function gatherCompose(
  r: Reader,
  c: NonNullable<ImageConfig['compose']>,
  field: string,
): Promise<NonNullable<ImageFacts['compose']>> {
  const text = await r.read(c.file);
  if (text === null) throw new UserError(`compose file ${c.file} does not exist ${r.where}: fix \`${field}\``);
  const env = (await r.read(posix.join(posix.dirname(c.file), '.env')).catch(() => null)) ?? '';
  const vars: Record<string, string> = {};
  for (const l of env.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(l);
    if (m) vars[m[1]] = m[2].trim().replace(/^(['"])(.*)\1$/, '$2');
  }
  return { file: c.file, service: c.service, text, vars };
}
