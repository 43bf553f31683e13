import { readFileSync } from 'node:fs';

/**
 * Root's writes into directories the app's account controls (its home, the deploy dir), never through a link:
 * src/engine/nofollow.py, sent inline with `python3 -c` (python3 is required on every host). Each directory on the
 * way is opened from / with O_NOFOLLOW; a link there is followed only if root owns it (the admin's, such as
 * /home -> /data/home), any other is refused in one line naming it. Files are created exclusively under a random
 * name with their final mode and owner from birth, then renamed over the target: a link planted at the target is
 * replaced, never followed.
 */
const SCRIPT = readFileSync(new URL('./nofollow.py', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.trimStart().startsWith('#'))
  .join('\n');

export type NofollowOp =
  | ['put', path: string, mode: string, owner: string, bytes: string]
  | ['keep', path: string, kept: string]
  | ['restore', path: string, kept: string]
  | ['mkdir', path: string, owner: string, marker: string]
  | ['rmdir', path: string, marker: string];

/** The remote argv of one operation (run it with sudo). */
export function nofollow(...op: NofollowOp): string[] {
  return ['python3', '-c', SCRIPT, ...op];
}
