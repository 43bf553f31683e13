import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { shJoin } from '../util/quote.ts';

/**
 * Sessions of a run on the host. Every command a run sends runs inside a marked shell, `sh -c CHECK
 * cutover-session-RUN-SESSION argv…`: the marker names the run and this process's session in the process
 * list, and CHECK refuses to start the command once a newer session fenced the run. After a lost
 * connection (and before a --resume or --rollback touches anything) fence.py records the new session and
 * stops every process tree an older one left: its last command cannot go on behind the settle.
 */
const SCRIPT = readFileSync(new URL('./fence.py', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.trimStart().startsWith('#'))
  .join('\n');

const CHECK =
  'm=${0#cutover-session-}; f=/run/cutover/${m%-*}; ' +
  'if [ -e "$f" ] && [ "$(cat "$f")" != "${m##*-}" ]; then ' +
  'echo "cutover: not run: a newer session settled run ${m%-*} (this command is from a lost one)" >&2; exit 111; fi; "$@"';

export class Session {
  /** Letters and digits only: the marker's last part. */
  readonly id = randomBytes(6).toString('hex');
  constructor(readonly runId: string) {}

  /** The command line, run in this session's marked shell. */
  wrap(command: string): string {
    return `${shJoin(['sh', '-c', CHECK, `cutover-session-${this.runId}-${this.id}`])} ${command}`;
  }

  /** Make this the run's only live session, and stop what older ones left (run with sudo). */
  fenceArgv(): string[] {
    return ['python3', '-c', SCRIPT, this.runId, this.id];
  }
}
