import { sudo } from './command.ts';
import type { Secret } from '../util/secret.ts';
import type { Action } from './step.ts';
import { formatBytes } from '../util/bytes.ts';
import { nofollow } from './nofollow.ts';

/**
 * Where a run keeps what it needs on the host (kept copies, markers, backups). Never removed by a rollback.
 * Root's only: root:root 0700, made so (an older, looser one tightened) by every run's first step, the host lock
 * (HOST_STATE_SH): what is under it is out of reach of every other account, whatever its own mode.
 */
export const HOST_STATE = '/var/lib/cutover';
/** sh: HOST_STATE exists as root's own 0700 directory (never a link); what this shell makes next is root's only. */
export const HOST_STATE_SH = `umask 077
if [ -L ${HOST_STATE} ]; then
  echo "refusing: ${HOST_STATE} is a symlink (to $(readlink ${HOST_STATE})); cutover keeps its backups there, \
root's only: put a real directory there (move the link's target to ${HOST_STATE}), then run again" >&2; exit 1
fi
mkdir -p -m 700 ${HOST_STATE}; chown root:root ${HOST_STATE}; chmod 700 ${HOST_STATE}`;
export const runStateDir = (runId: string) => `${HOST_STATE}/runs/${runId}`;
const keptPath = (runId: string, path: string) =>
  `${runStateDir(runId)}/kept/${path.replace(/^\/+/, '').replace(/\//g, '%2F')}`;
const markerPath = (runId: string, path: string) =>
  `${runStateDir(runId)}/created/${path.replace(/^\/+/, '').replace(/\//g, '%2F')}`;

/**
 * Make a directory (its owner set on it, never through a link); remember in the run's host state that this run
 * created it. Refused in one line if the path is a symlink. The undo removes it only if this run made it and it
 * holds nothing but directories (gate/, say); one holding files another run or the app put there is kept, and
 * says so: "kept DIR: holds files not made by this run".
 */
export function makeDir(path: string, runId: string, owner?: string): Action {
  const marker = markerPath(runId, path);
  return {
    cmd: sudo(nofollow('mkdir', path, owner ?? '', marker), {
      says: `make dir ${path}${owner ? ` (owner ${owner})` : ''}, if missing`,
    }),
    undo: [sudo(nofollow('rmdir', path, marker), { says: `remove dir ${path}, only if this run made it` })],
    creates: [{ type: 'dir', name: path }],
  };
}

/**
 * Write a file, keeping a copy of whatever it overwrites (a file or a link, as it was); the undo puts the old one
 * back, or removes the file if there was none. Never through a link (src/engine/nofollow.py).
 */
export function writeFile(
  path: string,
  content: string | Secret,
  runId: string,
  opts: { mode?: string; owner?: string } = {},
): Action[] {
  const kept = keptPath(runId, path);
  const name = path.split('/').pop();
  return [
    {
      cmd: sudo(nofollow('keep', path, kept), { says: `keep the existing ${path}, if any, to put back on rollback` }),
      undo: [
        sudo(nofollow('restore', path, kept), {
          says: `put back the kept ${name} (or remove it, if there was none before)`,
        }),
      ],
      creates: [{ type: 'file', name: path, keptAt: kept }],
    },
    {
      cmd: {
        kind: 'upload',
        path,
        content,
        mode: opts.mode ?? '644',
        sudo: true,
        ...(opts.owner ? { owner: opts.owner } : {}),
        says: `write ${path} (${typeof content === 'string' ? formatBytes(Buffer.byteLength(content)) : 'secret content, never printed'}; mode ${opts.mode ?? '644'}${opts.owner ? `, owner ${opts.owner}` : ''})`,
      },
      undoneBy: `the put-back of ${name} above`,
    },
  ];
}
