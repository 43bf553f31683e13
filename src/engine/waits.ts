import { remote, type RemoteCommand } from './command.ts';

/**
 * Named host-side checks and waits: read-only, each a small sh script run on the host with its
 * arguments positional (never spliced into the script), each ending in one line that says what
 * did not hold and where to look.
 */

const WAIT_HEALTHY = `i=0
while [ $i -lt $2 ]; do
  s=$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)
  [ "$s" = healthy ] && exit 0
  i=$((i+1)); sleep 1
done
echo "$1 not healthy after $2 s (last: \${s:-no such container}); see docker logs $1" >&2
exit 1`;

/** Wait until a container's healthcheck says healthy (Compose v1 and v2 alike). */
export function waitHealthy(name: string, seconds = 120): RemoteCommand {
  return remote(['sh', '-c', WAIT_HEALTHY, 'sh', name, String(seconds)], {
    says: `wait until container ${name} is healthy (up to ${seconds} s)`,
    reads: true,
  });
}

const WAIT_ANSWERS = `i=0
while [ $i -lt $(($3 * 20)) ]; do
  c=$(curl -s \${7:+-k} -m 2 -o /dev/null -w "%{http_code}" \${1:+-H "Host: $1"} \${4:+-H "X-Cutover-Verify: $4"} "$2")
  if [ "$5" = strict ]; then case $c in 2??) exit 0;; esac
  elif [ "$c" != 000 ] && [ "$c" -lt 500 ]; then exit 0; fi
  i=$((i+1)); sleep 0.05
done
echo "$6 does not answer at $2 after $3 s (last HTTP status: $c)" >&2
exit 1`;

export interface WaitAnswersOptions {
  /** Host header (name-based virtual hosts behind nginx). */
  host?: string;
  /** Sent as X-Cutover-Verify: passes the cutover gate while it is closed. */
  token?: string;
  /** 2xx only (a health endpoint); otherwise any answer below 500 (an app without one still answers 404 when up). */
  strict: boolean;
  seconds?: number;
  /** https without checking the certificate (curl -k): a check on 127.0.0.1 of a certificate issued for the public names. */
  insecure?: boolean;
}

/** Poll a URL every 0.05 s until it answers; `what` names the service in the failure line. */
export function waitAnswers(url: string, what: string, o: WaitAnswersOptions): RemoteCommand {
  const seconds = o.seconds ?? 120;
  return remote(
    [
      'sh',
      '-c',
      WAIT_ANSWERS,
      'sh',
      o.host ?? '',
      url,
      String(seconds),
      o.token ?? '',
      o.strict ? 'strict' : 'any',
      what,
      o.insecure ? 'insecure' : '',
    ],
    {
      says: `wait until ${what.replace(/ \(.*\)$/, '')} answers at ${url}${o.host ? ` (Host ${o.host})` : ''}${o.strict ? ' with 2xx' : ''} (up to ${seconds} s)`,
      reads: true,
    },
  );
}

/** One GET that must answer 2xx (curl retries for about 10 s while a service comes up). */
export function httpCheck(url: string, o: { host: string; token?: string; insecure?: boolean }): RemoteCommand {
  const token = o.token ? ['-H', `X-Cutover-Verify: ${o.token}`] : [];
  return remote(
    [
      'curl',
      '-fsS',
      ...(o.insecure ? ['-k'] : []),
      '-m',
      '10',
      '--retry',
      '10',
      '--retry-all-errors',
      '--retry-delay',
      '1',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      `Host: ${o.host}`,
      ...token,
      url,
    ],
    {
      says: `GET ${url} with Host ${o.host}${o.token ? ' (through the closed gate)' : ''}: must answer 2xx`,
      reads: true,
    },
  );
}
