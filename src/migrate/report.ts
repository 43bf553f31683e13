import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Journal } from '../engine/journal.ts';
import { appChanges } from './app-changes.ts';
import { formatBytes } from '../util/bytes.ts';
import { container, fileSets, nginxContainer, pgSets, volumeName, writers } from './app.ts';
import { publicUrl, routeCheckPath } from './deploy.ts';
import type { SpecFacts } from './facts.ts';
import { failedSection, freezeSeconds, keptSection, runOutcome, snapshotSummaries, stepsTable } from './outcome.ts';
import { SPEC_FREEZE } from './steps.ts';
import type { Spec } from './spec.ts';

/** The public URLs the deploy checks through nginx: per routed host its routes' wait paths, then the neighbours' paths. */
function checkedUrls(s: Spec): string {
  const hosts = [...new Set(s.routes.map((r) => r.host))].map((host) => {
    const paths = s.routes.filter((r) => r.host === host).map((r) => routeCheckPath(s, r));
    return [...new Set(paths)]
      .sort((a, b) => a.length - b.length || a.localeCompare(b))
      .map((p) => publicUrl(s, host, p))
      .join(' and ');
  });
  const neighbours = s.neighbours
    .filter((n) => n.host)
    .flatMap((n) => n.checkPaths.map((p) => publicUrl(s, n.host!, p)));
  return [...hosts, ...neighbours].join(', ');
}

/** report.md of a migration by spec: what failed and the way on, the backups, parity, the freeze, the containers, what is left by hand. */
export function specReport(cmd: string) {
  return (ctx: {
    config: Spec;
    facts: SpecFacts;
    runId: string;
    runDir: string;
    timings: Record<string, number>;
  }): string => {
    const { config: s, facts, runId, runDir, timings } = ctx;
    const journal = resolve(runDir, 'journal.jsonl');
    const entries = Journal.read(journal);
    const o = runOutcome(entries);
    const done = (step: string) => entries.some((e) => e.type === 'step-done' && e.step === step);
    const freeze = freezeSeconds(journal, SPEC_FREEZE);
    const manifestPath = resolve(runDir, 'manifest.json');
    const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : undefined;
    const tls = s.nginx.tls;
    const nginxAt = `${s.nginx.bind}:${s.nginx.port}${tls ? ` and ${s.nginx.bind}:${s.nginx.tlsPort}` : ''}`;
    const staged = fileSets(s).filter((f) => f.d.kind !== 'files');
    const snapshots = snapshotSummaries(journal);
    const names = [...Object.keys(s.services).map((k) => container(s, k)), nginxContainer(s)];
    const bareMetalPorts = Object.values(s.services)
      .filter((v) => v.port)
      .map((v) => v.port);
    return [
      `# ${s.app} migration report — run ${runId}`,
      '',
      `Host: ${s.ssh.user}@${s.ssh.host}:${s.ssh.port} · result: ${o.result}`,
      '',
      ...failedSection(o, cmd, runId, runDir),
      ...stepsTable(timings),
      '## Backups',
      `Local: \`${runDir}\` · on the host: \`/var/lib/cutover/backups/${runId}\` (never deleted by a rollback)`,
      '',
      '| data set | archive | bytes | files | sha256 |',
      '|---|---|---|---|---|',
      ...fileSets(s).map((f) => {
        const a = manifest?.archives?.[f.key] as { bytes: number; files: object; sha256: string } | undefined;
        return `| ${f.key} (${f.d.kind}) | ${f.key}.tar | ${a ? formatBytes(a.bytes) : '-'} | ${a ? Object.keys(a.files).length : '-'} | ${a ? `\`${a.sha256}\`` : '-'} |`;
      }),
      ...pgSets(s).map(
        (p) =>
          `| ${p.key} (postgres ${p.db}) | ${p.key}.dump | ${existsSync(resolve(runDir, `${p.key}.dump`)) ? formatBytes(readFileSync(resolve(runDir, `${p.key}.dump`)).length) : '-'} | | |`,
      ),
      '',
      ...(staged.length
        ? [
            '## Snapshots of the live databases (backup.snapshot)',
            ...staged.map((f, i) => {
              const said = snapshots.get(i);
              const what = f.d.kind === 'chromadb' ? 'the live ChromaDB' : 'SQLite';
              if (!said) return `- ${f.key} (${what}): not reached`;
              const paused =
                said.paused_ms === null || said.paused_ms === undefined
                  ? 'its writers were not paused'
                  : `its writers were paused for **${(said.paused_ms / 1000).toFixed(2)} s** (its files kept changing)`;
              return `- ${f.key} (${what}): ${said.attempts} copy pass${said.attempts === 1 ? '' : 'es'}; ${paused}.`;
            }),
            '',
          ]
        : []),
      '## Data parity (checked by the agent, file by file; SQLite row by row)',
      ...[
        done('volumes.restore') &&
          '- volumes.restore: every restored file equals the manifest (sha256; SQLite databases row by row), nothing extra.',
        done('verify.parity') && '- verify.parity: the volumes the containers started on still equal the backup.',
        done('cutover.start') &&
          '- cutover.start: before the gate opened, the volumes and databases held exactly the final bare-metal data (PostgreSQL table by table).',
      ].filter((l): l is string => Boolean(l)),
      ...(done('volumes.restore') || done('cutover.start') ? [] : ['not reached']),
      '',
      '## Write freeze',
      freeze !== undefined
        ? `Writers (${writers(s).join(', ')}) stopped → the gate open: **${freeze.toFixed(2)} s**.`
        : 'not reached',
      '',
      '## Endpoints (through nginx)',
      `- ${checkedUrls(s)}: ${done('verify.endpoints') ? 'checked in verify.endpoints' : 'not reached'}`,
      ...s.neighbours.map(
        (n) =>
          `- ${n.project}'s containers unchanged: ${done('verify.parity') ? `${facts.neighbours?.[n.project]?.length ?? 0} containers, same ids and start times (checked in verify.parity)` : 'not reached'}`,
      ),
      ...s.routes
        .filter((r) => r.stripPrefix)
        .map((r) => `- ${r.host}${r.prefix} reaches ${r.service} with the prefix stripped (${r.prefix}x → /x).`),
      tls
        ? `- TLS: https on ${s.nginx.bind}:${s.nginx.tlsPort} with ${tls.cert}; http on :${s.nginx.port} redirects there.`
        : '- TLS: none, http only (no `nginx.tls` in the spec).',
      '',
      '## What changes for the app',
      ...appChanges(s).map((l) => (l.startsWith('  ') ? `  -${l.slice(1)}` : `- ${l}`)),
      ...(facts.hostNginx ?? []).map((l) => `- ${l}`),
      '',
      '## Containers',
      '| container | memory limit | CPUs | data |',
      '|---|---|---|---|',
      ...Object.entries(s.services).map(
        ([k, v]) =>
          `| ${container(s, k)} | ${v.limits.memory} | ${v.limits.cpus} | ${Object.entries(s.data)
            .filter(([, d]) => (d.kind === 'postgres' ? d.postgres?.into === k : d.writers.includes(k)))
            .map(([dk, d]) => `${volumeName(s, dk)}:${d.mount}`)
            .join(', ')} |`,
      ),
      `| ${nginxContainer(s)} | ${s.nginx.limits.memory} | ${s.nginx.limits.cpus} | |`,
      '',
      `Logs: \`docker logs <container>\` (json-file, rotated at ${s.logs.maxSize}, ${s.logs.maxFile} files kept); usage: \`docker stats ${names.join(' ')}\`.`,
      '',
      ...keptSection(journal),
      ...(o.finished
        ? []
        : [
            '## Next',
            o.failed
              ? '- See "What failed" above.'
              : `- The run stopped as asked: \`${cmd} --resume ${runId}\` continues it, \`--rollback ${runId}\` undoes it.`,
            '',
          ]),
      '## Still to do by hand, once the migration has finished',
      `- DNS: point ${[...new Set([...s.routes.map((r) => r.host), ...s.neighbours.flatMap((n) => (n.host ? [n.host] : []))])].join(', ')} at this host; nginx answers on ${nginxAt}.`,
      `- Firewall: open ${tls ? `${s.nginx.port} and ${s.nginx.tlsPort}` : `${s.nginx.port}`}${bareMetalPorts.length ? `; close the bare-metal ports ${bareMetalPorts.join(', ')}` : ''}.`,
      tls
        ? `- TLS certificate renewal: nginx reads ${tls.cert} and ${tls.key} at start; after renewing them, \`docker restart ${nginxContainer(s)}\`.`
        : '- TLS: not set up (no `nginx.tls` in the spec): terminate it in front of this host, or give nginx a certificate and key on the host (`nginx.tls: { cert, key }`).',
      '- The bare-metal data stays where it was, untouched, as a fallback; its services are stopped and disabled at boot. Cleanup (old venvs, service files) is a separate, confirmed step.',
      `- Undo this migration at any time: \`${cmd} --rollback ${runId}\`.`,
      '',
    ].join('\n');
  };
}
