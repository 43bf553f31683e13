import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { remote, sudo, type RemoteCommand } from '../engine/command.ts';
import type { Probe } from '../engine/runbook.ts';
import { limitConcurrency } from '../util/limit.ts';
import { userMismatches } from './app-changes.ts';
import { cronProbe, cronProblems } from './cron.ts';
import { systemdUnit } from './services.ts';
import type { Spec, SpecService } from './spec.ts';

/**
 * What a spec says about the host, checked on the host before anything is planned (so in a dry run):
 * each service is known to its manager and answers as its check says, each data set is where the spec
 * says and of its kind, each build context, ecosystem file and image exists, each neighbour runs.
 * Read-only. Every problem is one line naming the spec's field and the fix.
 */
export async function checkSpecOnHost(
  direct: Probe,
  s: Spec,
  cwd = process.cwd(),
  o: { skipAnswers?: boolean } = {},
): Promise<string[]> {
  const probe = limitConcurrency(4, direct);
  const problems: string[] = [];
  const ok = async (cmd: RemoteCommand) => (await probe({ ...cmd, reads: true })).code === 0;

  if (!(await ok(sudo(['true'])))) {
    problems.push(
      `\`ssh.user\`: ${s.ssh.user} cannot sudo without a password on the host: add \`${s.ssh.user} ALL=(ALL) NOPASSWD:ALL\` to /etc/sudoers.d/`,
    );
    return problems; // every check below reads as root
  }
  // Independent checks run at once (each its probes in order, at most 4 in flight); their problems are
  // joined in the order written here, so the first line an operator reads does not depend on timing.
  const parts: Promise<string[]>[] = [];
  const part = (f: (bad: (field: string, message: string) => void) => Promise<void>) => {
    const mine: string[] = [];
    parts.push(f((field, message) => void mine.push(`\`${field}\`: ${message}`)).then(() => mine));
  };
  part(async (bad) => {
    if (!(await ok(remote(['docker', 'info', '-f', '{{.ServerVersion}}']))))
      bad(
        'ssh.user',
        `the Docker engine is not reachable as ${s.ssh.user}: start dockerd and add ${s.ssh.user} to the docker group`,
      );
    if (!(await ok(remote(['id', '-u', s.owner]))))
      bad('owner', `no user ${s.owner} on the host: name the account that owns the data`);
  });
  part(async (bad) => {
    for (const [field, message] of userMismatches(s, cwd)) bad(field, message);
  });
  part(async (bad) => {
    for (const [field, message] of cronProblems(s, (await probe(cronProbe())).stdout)) bad(field, message);
  });
  for (const [name, svc] of Object.entries(s.services))
    part(async (bad) => {
      const at = `services.${name}`;
      const known = await managerKnows(probe, svc, s.owner);
      // a systemd unit's timers, sockets and paths (what starts it, what it starts) go with it: src/migrate/systemd-units.ts
      if (known !== true) bad(`${at}.name`, known);
      if ('context' in svc.build) {
        if (!(await ok(sudo(['test', '-d', svc.build.context]))))
          bad(
            `${at}.build.context`,
            `${svc.build.context} is not a directory on the host: the build context is the service's source there`,
          );
        const df = resolve(cwd, svc.build.dockerfile);
        if (!existsSync(df))
          bad(
            `${at}.build.dockerfile`,
            `${df} does not exist on this machine (it is uploaded into the deploy dir): fix the path (relative paths are from the working directory, as ssh.key)`,
          );
        const ig = svc.build.dockerignore && resolve(cwd, svc.build.dockerignore);
        if (ig && !existsSync(ig))
          bad(
            `${at}.build.dockerignore`,
            `${ig} does not exist on this machine (it is uploaded into the context as .dockerignore): fix the path`,
          );
      } else if (!(await ok(remote(['docker', 'image', 'inspect', '-f', '{{.Id}}', svc.build.image]))))
        bad(
          `${at}.build.image`,
          `no image ${svc.build.image} on the host (nothing is pulled): build or load it there first`,
        );
      if (svc.ecosystem && !(await ok(sudo(['test', '-f', svc.ecosystem]))))
        bad(
          `${at}.ecosystem`,
          `${svc.ecosystem} is not a file on the host: pm2 starts ${svc.name} from it on a rollback`,
        );
      if (typeof svc.check === 'object' && known === true && !o.skipAnswers) {
        if ('http' in svc.check) {
          const code =
            (
              await probe(
                remote(
                  [
                    'curl',
                    '-s',
                    '-m',
                    '5',
                    '-o',
                    '/dev/null',
                    '-w',
                    '%{http_code}',
                    `http://127.0.0.1:${svc.port}${svc.check.http}`,
                  ],
                  { reads: true },
                ),
              )
            ).stdout.trim() || '000';
          if (!/^2\d\d$/.test(code))
            bad(
              `${at}.check.http`,
              `${svc.name} answers ${code === '000' ? 'nothing' : `HTTP ${code}`} at http://127.0.0.1:${svc.port}${svc.check.http}: fix the path or the port, or check: { tcp: true }`,
            );
        } else if (
          !(await ok(
            remote([
              'python3',
              '-c',
              'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 3)',
              String(svc.port),
            ]),
          ))
        )
          bad(
            `${at}.port`,
            `nothing accepts a connection on 127.0.0.1:${svc.port}: is ${svc.name} running, on that port?`,
          );
      }
    });

  // The spec's extra checks answer on bare metal as they must through nginx: a wrong path is refused now, not mid-run.
  if (!o.skipAnswers)
    for (const [i, c] of s.checks.entries())
      part(async (bad) => {
        const via = bareMetalOf(s, c.host, c.path);
        if (!via) {
          bad(
            `checks.${i}`,
            `no route of ${c.host} covers ${c.path}: the check would reach no service (routes list each host's prefixes)`,
          );
          return;
        }
        const url = `http://127.0.0.1:${via.port}${via.path}`;
        const code =
          (
            await probe(
              remote(['curl', '-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', url], { reads: true }),
            )
          ).stdout.trim() || '000';
        if (!/^2\d\d$/.test(code))
          bad(
            `checks.${i}.path`,
            `${c.path}: ${via.service} answers ${code === '000' ? 'nothing' : `HTTP ${code}`} at ${url} on bare metal: fix the path, or remove the check (it is an optional extra)`,
          );
      });

  for (const [name, d] of Object.entries(s.data))
    part(async (bad) => {
      const at = `data.${name}`;
      if (d.kind === 'postgres') {
        const pg = d.postgres!;
        if (
          !(await ok({ kind: 'remote', argv: ['psql', '-X', '-At', '-d', pg.db, '-c', 'select 1'], user: 'postgres' }))
        ) {
          bad(
            `${at}.postgres.db`,
            `psql as postgres cannot open database ${pg.db} on the host: is PostgreSQL running there, with that database?`,
          );
          return;
        }
        // The cluster stops with the app (its service is the spec's): every database it serves must be this app's.
        // One listing for the cluster, under the first postgres data set.
        const first = Object.entries(s.data).find(([, x]) => x.kind === 'postgres')![0];
        const others = name === first ? await otherDatabases(probe, s) : [];
        if (others.length)
          bad(
            `${at}.postgres.db`,
            `the host's PostgreSQL also serves ${others.join(', ')}, which this spec does not name: the cutover stops the whole cluster (${pgServiceOf(s, d)}), so another app would lose its database. Name each as a postgres data set of this app if it is this app's, or move it out of this cluster first`,
          );
        return;
      }
      if (!(await ok(sudo(['test', '-d', d.path])))) {
        bad(`${at}.path`, `${d.path} is not a directory on the host: fix the path`);
        return;
      }
      if (d.kind === 'chromadb' && !(await ok(sudo(['test', '-f', `${d.path}/chroma.sqlite3`]))))
        bad(
          `${at}.kind`,
          `${d.path} has no chroma.sqlite3: it is not a ChromaDB persist dir (kind files, or the right path)`,
        );
      for (const [i, f] of (d.files ?? []).entries()) {
        // SQLite's 16-byte header, read as root: the file the app writes, not a stale copy beside it
        const isDb = await ok(
          sudo([
            'python3',
            '-c',
            'import sys; sys.exit(open(sys.argv[1], "rb").read(16) != b"SQLite format 3\\0")',
            `${d.path}/${f}`,
          ]),
        );
        if (!isDb)
          bad(
            `${at}.files.${i}`,
            `${d.path}/${f} is not a SQLite database on the host (no "SQLite format 3" header): fix the name, or leave files out to find them by header`,
          );
      }
    });

  for (const [i, n] of s.neighbours.entries())
    part(async (bad) => {
      const ids = (
        await probe(
          remote(['docker', 'ps', '-q', '--filter', `label=com.docker.compose.project=${n.project}`], { reads: true }),
        )
      ).stdout.trim();
      if (!ids)
        bad(
          `neighbours.${i}.project`,
          `no running container of compose project ${n.project} on the host: a neighbour the migration must leave untouched has to be running to be proven untouched`,
        );
      if (n.network && !(await ok(remote(['docker', 'network', 'inspect', '-f', '{{.Id}}', n.network]))))
        bad(`neighbours.${i}.network`, `no docker network ${n.network} on the host`);
      if (n.dump && !(await ok(remote(['docker', 'inspect', '-f', '{{.State.Running}}', n.dump.container]))))
        bad(`neighbours.${i}.dump.container`, `no container ${n.dump.container} on the host`);
    });
  part(async (bad) => {
    for (const [i, img] of s.images.entries())
      if (!(await ok(remote(['docker', 'image', 'inspect', '-f', '{{.Id}}', img]))))
        bad(`images.${i}`, `no image ${img} on the host (nothing is pulled): load it there first`);
    if (!(await ok(remote(['docker', 'image', 'inspect', '-f', '{{.Id}}', s.helperImage]))))
      bad('helperImage', `no image ${s.helperImage} on the host: it fills and checks the volumes (python3 in it)`);
  });
  if (s.nginx.tls) parts.push(tlsProblems(probe, s.nginx.tls));
  for (const mine of await Promise.all(parts)) problems.push(...mine);
  return problems;
}

/** The databases of the host's cluster that are not this app's: not a template, not `postgres`, not one the spec names, nor a copy an earlier rollback of it kept. */
async function otherDatabases(probe: Probe, s: Spec): Promise<string[]> {
  const sql = "select datname from pg_database where not datistemplate and datname <> 'postgres' order by 1";
  const r = await probe({
    kind: 'remote',
    argv: ['psql', '-X', '-At', '-d', 'postgres', '-c', sql],
    user: 'postgres',
    reads: true,
  });
  const named = Object.values(s.data)
    .filter((d) => d.kind === 'postgres')
    .map((d) => d.postgres!.db);
  const kept = (db: string) =>
    named.some((n) => db.startsWith(`${n}_pre_rollback_`) && /_\d{8}_\d{6}_[a-z0-9]{4}$/.test(db));
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .filter((db) => !named.includes(db) && !kept(db));
}

/** The bare-metal service that runs the host's PostgreSQL: the writer-less service a postgres data set moves into's bare-metal twin. */
function pgServiceOf(s: Spec, d: Spec['data'][string]): string {
  const into = s.services[d.postgres!.into];
  return `${into.manager} ${into.name}`;
}

/** The service and bare-metal port and path that HOST + PATH reach through the spec's routes (the longest prefix). */
export function bareMetalOf(
  s: Spec,
  host: string,
  path: string,
): { service: string; port: number; path: string } | undefined {
  const r = s.routes
    .filter((x) => x.host === host && path.startsWith(x.prefix))
    .sort((a, b) => b.prefix.length - a.prefix.length)[0];
  const port = r && s.services[r.service].port;
  if (!r || port === undefined) return undefined;
  return { service: r.service, port, path: r.stripPrefix ? `/${path.slice(r.prefix.length)}` : path };
}

/** Checks one TLS file on the host as root (nginx's master reads it as root): 2 missing, 3 unreadable, 4 not PEM of that kind, 5 expired. */
const TLS_FILE = `[ -f "$1" ] || exit 2
[ -r "$1" ] && head -c 1 "$1" >/dev/null 2>&1 || exit 3
grep -q -- "$2" "$1" || exit 4
if [ "$3" = x509 ] && command -v openssl >/dev/null; then openssl x509 -noout -checkend 0 -in "$1" >/dev/null || exit 5; fi
exit 0`;

/** nginx.tls's certificate and key: each a PEM of its kind on the host, the certificate not expired. */
async function tlsProblems(probe: Probe, tls: { cert: string; key: string }): Promise<string[]> {
  const out: string[] = [];
  const kinds = [
    ['cert', '-----BEGIN CERTIFICATE-----', 'a PEM certificate (-----BEGIN CERTIFICATE-----)'],
    ['key', 'PRIVATE KEY-----', 'a PEM private key (-----BEGIN … PRIVATE KEY-----)'],
  ] as const;
  for (const [key, marker, what] of kinds) {
    const path = tls[key];
    const code = (
      await probe(sudo(['sh', '-c', TLS_FILE, 'sh', path, marker, key === 'cert' ? 'x509' : ''], { reads: true }))
    ).code;
    const why = {
      2: 'no such file on the host',
      3: 'not readable, even by root',
      4: `not ${what}`,
      5: 'the certificate has expired',
    }[code as 2 | 3 | 4 | 5];
    const give = key === 'cert' ? 'certificate (full chain)' : 'private key';
    if (code !== 0)
      out.push(
        `\`nginx.tls.${key}\` ${path}: ${why ?? `cannot be checked (exit ${code})`}: give the ${give}'s path on the host, or remove nginx.tls to serve http only`,
      );
  }
  return out;
}

/** true, or one line: the service is not known to its manager on the host. */
async function managerKnows(probe: Probe, svc: SpecService, owner: string): Promise<true | string> {
  switch (svc.manager) {
    case 'supervisor': {
      const r = await probe(sudo(['supervisorctl', 'status', svc.name], { reads: true }));
      if (/no such process|ERROR \(no such/i.test(r.stdout + r.stderr))
        return `supervisor has no program ${svc.name} on the host (sudo supervisorctl status lists them): fix the name`;
      if (r.code !== 0 && r.code !== 3)
        return `supervisorctl status ${svc.name} failed (exit ${r.code}): is supervisord running? ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`.trim();
      return true;
    }
    case 'pm2': {
      const r = await probe({ kind: 'remote', argv: ['pm2', 'describe', svc.name], user: owner, reads: true });
      return r.code === 0
        ? true
        : `pm2 (as ${owner}) has no process ${svc.name}: fix the name, or the owner whose pm2 runs it (pm2 ls lists them)`;
    }
    case 'systemd': {
      const r = await probe(
        remote(['systemctl', 'show', '-p', 'LoadState', '--value', '--', systemdUnit(svc.name)], { reads: true }),
      );
      const state = r.stdout.trim();
      return state === 'loaded'
        ? true
        : `systemd has no unit ${svc.name} on the host (LoadState ${state || 'unknown'}): fix the name (systemctl list-units lists them)`;
    }
  }
}
