import { sudo } from './command.ts';
import type { Secret } from '../util/secret.ts';
import type { Action } from './step.ts';
import { formatBytes } from '../util/bytes.ts';

/** Where a run keeps what it needs on the host (kept copies, markers). Never removed by a rollback. */
export const HOST_STATE = '/var/lib/cutover';
export const runStateDir = (runId: string) => `${HOST_STATE}/runs/${runId}`;
const keptPath = (runId: string, path: string) => `${runStateDir(runId)}/kept/${path.replace(/^\/+/, '').replace(/\//g, '%2F')}`;
const markerPath = (runId: string, path: string) => `${runStateDir(runId)}/created/${path.replace(/^\/+/, '').replace(/\//g, '%2F')}`;

/**
 * Make a directory; remember (in the run's host state) that this run created it, so the undo
 * removes it only then, never a directory that was there before.
 */
export function makeDir(path: string, runId: string, owner?: string): Action {
  const script = `set -e
if [ ! -d "$1" ]; then mkdir -p "$1" "$(dirname "$2")"; : > "$2"; fi
if [ -n "$3" ]; then chown "$3" "$1"; fi`;
  return {
    cmd: sudo(['sh', '-c', script, 'sh', path, markerPath(runId, path), owner ?? ''], { says: `make dir ${path}${owner ? ` (owner ${owner})` : ''}, if missing` }),
    undo: [sudo(['sh', '-c', 'if [ -e "$2" ]; then rm -rf "$1"; rm -f "$2"; fi', 'sh', path, markerPath(runId, path)], { says: `remove dir ${path}, only if this run made it` })],
    creates: [{ type: 'dir', name: path }],
  };
}

/**
 * Write a file, keeping a copy of whatever it overwrites; the undo puts the old file back, or
 * removes the file if there was none.
 */
export function writeFile(path: string, content: string | Secret, runId: string, opts: { mode?: string; owner?: string } = {}): Action[] {
  const kept = keptPath(runId, path);
  const keep = `set -e
mkdir -p "$(dirname "$2")"
if [ -e "$1" ] && [ ! -e "$2" ]; then cp -a "$1" "$2"; elif [ ! -e "$1" ] && [ ! -e "$2.none" ]; then : > "$2.none"; fi`;
  const restore = `if [ -e "$2" ]; then cp -a "$2" "$1"; elif [ -e "$2.none" ]; then rm -f "$1"; fi`;
  const name = path.split('/').pop();
  return [
    {
      cmd: sudo(['sh', '-c', keep, 'sh', path, kept], { says: `keep the existing ${path}, if any, to put back on rollback` }),
      undo: [sudo(['sh', '-c', restore, 'sh', path, kept], { says: `put back the kept ${name} (or remove it, if there was none before)` })],
      creates: [{ type: 'file', name: path, keptAt: kept }],
    },
    {
      cmd: {
        kind: 'upload', path, content, mode: opts.mode ?? '644', sudo: true, ...(opts.owner ? { owner: opts.owner } : {}),
        says: `write ${path} (${typeof content === 'string' ? formatBytes(Buffer.byteLength(content)) : 'secret content, never printed'}; mode ${opts.mode ?? '644'}${opts.owner ? `, owner ${opts.owner}` : ''})`,
      },
      undoneBy: `the put-back of ${name} above`,
    },
  ];
}
