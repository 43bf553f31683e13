/**
 * Bare metal stays still after its writers stopped (#32, defect 3): a marker is made as the delta starts (the
 * writers' stops read back), and once the gate is open every file data set on bare metal is read again as root:
 * anything changed since the marker (a write, a new or removed file, a chmod, a rename: each changes a ctime)
 * is a writer the spec does not list, whose write would otherwise stay where nobody reads again. The cutover
 * then fails and its rollback copies the containers' writes back beside the late one, both kept. A write
 * through a shared mmap that never updates a ctime is not seen this way.
 */
import { sudo, type RemoteCommand } from '../engine/command.ts';
import { runStateDir } from '../engine/files.ts';

export const stillMarker = (runId: string) => `${runStateDir(runId)}/bare-metal-still-since`;

/** Made alongside the delta (no round trip of its own in the write freeze). */
export const markStill = (runId: string): RemoteCommand =>
  sudo(['sh', '-c', 'umask 077; mkdir -p "${1%/*}" && : > "$1"', 'sh', stillMarker(runId)], {
    says: `mark the instant from which bare metal must not change (${stillMarker(runId)})`,
  });

/** Exit 1 naming the first path that changed since the marker (ctime, not following links, one file system). */
export const STILL = String.raw`m=$1; shift
[ -e "$m" ] || { echo "the marker $m is missing: run the cutover again (--rollback, then a new run)" >&2; exit 1; }
for d in "$@"; do
  p=$(find "$d" -xdev -cnewer "$m" -print -quit 2>/dev/null)
  if [ -n "$p" ]; then
    echo "bare metal changed after its writers stopped: $p (changed $(stat -c %z "$p")) - a writer the spec does not list (a cron job, a process outside its services) wrote there; the rollback keeps that write beside the containers' writes: find and stop that writer, then migrate again" >&2
    exit 1
  fi
done
exit 0`;

export const stillSince = (runId: string, dirs: string[]): RemoteCommand =>
  sudo(['sh', '-c', STILL, 'sh', stillMarker(runId), ...dirs], {
    says: `read back that nothing changed on bare metal since its writers stopped: ${dirs.join(', ')}`,
    reads: true,
  });
