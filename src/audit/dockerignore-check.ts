import dockerignore, { type Ignore } from '@balena/dockerignore';
import { result, type CheckResult, type Evidence } from './checks.ts';
import type { ImageFacts } from './audit.ts';
import { secretFileName } from './secrets.ts';

/** The build context's .dockerignore, by Docker's own matching rules. */

// CommonJS module typed as an ES default export: take whichever shape the loader gives.
const ignore = ((dockerignore as unknown as { default?: unknown }).default ?? dockerignore) as () => Ignore;

export const MUST_IGNORE = ['.env', '.git', 'node_modules', 'venv'];

/** Is this context path excluded, by Docker's rules (a path is excluded when it or a parent matches)? */
export function excludedBy(ig: Ignore, rel: string): boolean {
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) if (ig.ignores(parts.slice(0, i).join('/'))) return true;
  return false;
}

export function checkDockerignore(f: Pick<ImageFacts, 'context'>): CheckResult {
  const c = f.context;
  if (!c) return result('dockerignore', 'na', 'no build context given');
  const sensitive = c.files.filter(
    (p) =>
      secretFileName(p) === 'secret' ||
      /(^|\/)(\.git|node_modules|venv|\.venv)$/.test(p) ||
      secretFileName(p) === 'maybe',
  );
  if (c.dockerignore === null)
    return result(
      'dockerignore',
      'fail',
      `no .dockerignore in ${c.dir}: the whole context goes to the daemon, and COPY . . copies it into the image`,
      [
        { what: `${c.dir}/.dockerignore does not exist`, file: `${c.dir}/.dockerignore` },
        ...sensitive.map((p) => ({ what: `${p} is in the context and would be sent`, file: `${c.dir}/${p}` })),
      ],
      `create ${c.dir}/.dockerignore with at least: ${MUST_IGNORE.join(', ')} (one per line)`,
    );
  const ig = ignore().add(c.dockerignore);
  const ev: Evidence[] = [];
  for (const m of MUST_IGNORE)
    if (!ig.ignores(m)) ev.push({ what: `does not exclude ${m}`, file: `${c.dir}/.dockerignore` });
  for (const p of sensitive)
    if (!excludedBy(ig, p) && !MUST_IGNORE.includes(p))
      ev.push({ what: `${p} is in the context and not excluded`, file: `${c.dir}/${p}` });
  if (!ev.length)
    return result(
      'dockerignore',
      'pass',
      `excludes ${MUST_IGNORE.join(', ')}${sensitive.length ? `; ${sensitive.length} sensitive path${sensitive.length > 1 ? 's' : ''} in the context, all excluded` : ''}`,
    );
  return result(
    'dockerignore',
    'fail',
    `.dockerignore lets ${ev.length} thing${ev.length > 1 ? 's' : ''} through`,
    ev,
    `add to ${c.dir}/.dockerignore: ${[...new Set(ev.map((e) => e.what.replace(/^does not exclude /, '').replace(/ is in the context.*$/, '')))].join(', ')}`,
  );
}
