import { remote, sudo, type RemoteCommand } from '../engine/command.ts';
import { waitAnswers } from '../engine/waits.ts';
import { container } from './app.ts';
import { systemdUnit } from './services.ts';
import type { Spec } from './spec.ts';

/**
 * How the runbook knows a service is up, from its spec's check: on bare metal (the host's loopback) and
 * in its container (a throwaway helper on the app's compose network: no port is published, no tool is
 * needed in the app's image). Read-only; each ends in one line naming the service and where to look.
 */

/** python3: poll http://HOST:PORT/PATH for a 2xx (or a TCP connect when PATH is empty) for SECONDS. */
const POLL = `import socket, sys, time, urllib.request
host, port, path, seconds, what = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
end, last = time.monotonic() + seconds, "no answer"
while time.monotonic() < end:
    try:
        if path:
            with urllib.request.urlopen("http://%s:%d%s" % (host, port, path), timeout=2) as r:
                if 200 <= r.status < 300: sys.exit(0)
                last = "HTTP %d" % r.status
        else:
            socket.create_connection((host, port), 2).close(); sys.exit(0)
    except Exception as e:
        last = str(getattr(e, "code", "") or e)[:120]
    time.sleep(0.05)
sys.stderr.write("%s does not answer at %s:%d%s after %g s (last: %s)\\n" % (what, host, port, path, seconds, last))
sys.exit(1)`;

const target = (s: Spec, svc: string) => {
  const c = s.services[svc];
  if (c.port === undefined || c.check === 'none') return undefined;
  return { port: c.port, path: 'http' in c.check ? c.check.http : '' };
};

/** Wait until the bare-metal service answers as its check says (nothing to wait for with check: none). */
export function waitBareMetal(s: Spec, svc: string, seconds = 60): RemoteCommand | undefined {
  const t = target(s, svc);
  if (!t) return undefined;
  const what = `bare-metal ${svc} (${s.services[svc].manager} ${s.services[svc].name})`;
  return t.path
    ? waitAnswers(`http://127.0.0.1:${t.port}${t.path}`, what, { strict: true, seconds })
    : remote(['python3', '-c', POLL, '127.0.0.1', String(t.port), '', String(seconds), what], {
        says: `wait until ${what} accepts a connection on 127.0.0.1:${t.port} (up to ${seconds} s)`,
        reads: true,
      });
}

/** Wait until the service's container answers as its check says, asked from a helper on the app's network. */
export function waitContainer(
  s: Spec,
  svc: string,
  runId: string,
  network: string,
  seconds = 120,
): RemoteCommand | undefined {
  const t = target(s, svc);
  if (!t) return undefined;
  const name = container(s, svc);
  const what = `container ${name} (see docker logs ${name})`;
  return sudo(
    [
      'docker',
      'run',
      '--rm',
      '--pull',
      'never',
      '--network',
      network,
      '--name',
      `cutover-${runId}-check-${svc}`,
      '--label',
      `io.cutover.run=${runId}`,
      '--label',
      'io.cutover.role=helper',
      s.helperImage,
      'python3',
      '-c',
      POLL,
      name,
      String(t.port),
      t.path,
      String(seconds),
      what,
    ],
    {
      says: `wait until ${name} answers ${t.path ? `2xx at ${t.path}` : 'a TCP connect'} on :${t.port}, asked on network ${network} (up to ${seconds} s)`,
      reads: true,
    },
  );
}

/**
 * After a stop: bare metal's SVC is proven quiet, as root. Nothing listens on its port any more (waited up to
 * 10 s: a stop returns when the manager's main process is gone, not a child it lost track of, a daemonized
 * copy or a second instance), and a systemd unit's cgroup holds no process (KillMode=process, none). One line
 * naming what still runs, and the fix; read-only.
 */
const QUIET = `port=$1; what=$2; unit=$3; tries=$(( \${4:-10} * 20 ))
i=0
while [ "$port" != - ]; do
  l=$(ss -ltnpH "sport = :$port" 2>/dev/null)
  [ -z "$l" ] && break
  i=$((i + 1))
  if [ "$i" -ge "$tries" ]; then
    who=$(printf '%s' "$l" | sed -n 's/.*users:((\\("[^)]*\\)).*/\\1/p' | head -1)
    echo "$what was stopped, but something still listens on :$port (\${who:-unknown}): its manager did not stop it (a daemonized child, a second copy); stop it, then --resume" >&2
    exit 1
  fi
  sleep 0.05
done
if [ -n "$unit" ]; then
  cg=$(systemctl show -p ControlGroup --value -- "$unit" 2>/dev/null)
  f=/sys/fs/cgroup$cg/cgroup.procs
  if [ -n "$cg" ] && [ -s "$f" ]; then
    echo "$what was stopped, but its unit's cgroup still holds processes ($(tr '\\n' ' ' < "$f")): stop them (systemctl kill $unit), then --resume" >&2
    exit 1
  fi
fi
exit 0`;

export function quietAfterStop(s: Spec, svc: string): RemoteCommand | undefined {
  const c = s.services[svc];
  if (c.port === undefined && c.manager !== 'systemd') return undefined;
  const what = `bare-metal ${svc} (${c.manager} ${c.name})`;
  const proofs = [
    c.port !== undefined && `nothing listens on :${c.port}`,
    c.manager === 'systemd' && "its unit's processes gone",
  ]
    .filter(Boolean)
    .join(', ');
  return sudo(
    [
      'sh',
      '-c',
      QUIET,
      'sh',
      c.port === undefined ? '-' : String(c.port),
      what,
      c.manager === 'systemd' ? systemdUnit(c.name) : '',
    ],
    { says: `read back that ${what} is stopped: ${proofs}`, reads: true },
  );
}
