import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Journal } from '../engine/journal.ts';
import { formatBytes } from '../util/bytes.ts';
import { container, fileSets, nginxContainer, pgSets, volumeName, writers } from './app.ts';
import type { SpecFacts } from './facts.ts';
import { failedSection, freezeSeconds, keptSection, runOutcome, stepsTable } from './outcome.ts';
import { SPEC_FREEZE } from './steps.ts';
import type { Spec } from './spec.ts';

/** report.md of a migration by spec: what failed and the way on, the backups, parity, the freeze, the containers, what is left by hand. */
export function specReport(cmd: string) {
  return (ctx: { config: Spec; facts: SpecFacts; runId: string; runDir: string; timings: Record<string, number> }): string => {
    const { config: s, runId, runDir, timings } = ctx;
    const journal = resolve(runDir, 'journal.jsonl');
    const entries = Journal.read(journal);
    const o = runOutcome(entries);
    const done = (step: string) => entries.some((e) => e.type === 'step-done' && e.step === step);
    const freeze = freezeSeconds(journal, SPEC_FREEZE);
    const manifestPath = resolve(runDir, 'manifest.json');
    const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : undefined;
    const nginxAt = `${s.nginx.bind}:${s.nginx.port}${s.nginx.tls ? ` and ${s.nginx.bind}:${s.nginx.tlsPort}` : ''}`;
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
      '| data set | archive | bytes | files |',
      '|---|---|---|---|',
      ...fileSets(s).map((f) => {
        const a = manifest?.archives?.[f.key] as { bytes: number; files: object } | undefined;
        return `| ${f.key} (${f.d.kind}) | ${f.key}.tar | ${a ? formatBytes(a.bytes) : '-'} | ${a ? Object.keys(a.files).length : '-'} |`;
      }),
      ...pgSets(s).map((p) => `| ${p.key} (postgres ${p.db}) | ${p.key}.dump | ${existsSync(resolve(runDir, `${p.key}.dump`)) ? formatBytes(readFileSync(resolve(runDir, `${p.key}.dump`)).length) : '-'} | |`),
      '',
      '## Data parity',
      ...[
        done('volumes.restore') && '- volumes.restore: every restored file equals the manifest (sha256; SQLite databases row by row), nothing extra.',
        done('verify.parity') && '- verify.parity: the volumes the containers started on still equal the backup.',
        done('cutover.start') && '- cutover.start: before the gate opened, the volumes and databases held exactly the final bare-metal data (PostgreSQL table by table).',
      ].filter((l): l is string => Boolean(l)),
      ...(done('volumes.restore') || done('cutover.start') ? [] : ['not reached']),
      '',
      '## Write freeze',
      freeze !== undefined ? `Writers (${writers(s).join(', ')}) stopped → the gate open: **${freeze.toFixed(2)} s**.` : 'not reached',
      '',
      '## Containers',
      '| container | memory limit | CPUs | data |',
      '|---|---|---|---|',
      ...Object.entries(s.services).map(([k, v]) => `| ${container(s, k)} | ${v.limits.memory} | ${v.limits.cpus} | ${Object.entries(s.data).filter(([, d]) => (d.kind === 'postgres' ? d.postgres?.into === k : d.writers.includes(k))).map(([dk, d]) => `${volumeName(s, dk)}:${d.mount}`).join(', ')} |`),
      `| ${nginxContainer(s)} | ${s.nginx.limits.memory} | ${s.nginx.limits.cpus} | |`,
      '',
      ...keptSection(journal),
      '## Still to do by hand, once the migration has finished',
      `- DNS: point ${[...new Set(s.routes.map((r) => r.host))].join(', ')} at this host; nginx answers on ${nginxAt}.`,
      `- Firewall: close the bare-metal ports ${Object.values(s.services).filter((v) => v.port).map((v) => v.port).join(', ')}.`,
      '- The bare-metal data stays where it was, untouched, as a fallback; its services are stopped and disabled at boot.',
      `- Undo this migration at any time: \`${cmd} --rollback ${runId}\`.`,
      '',
    ].join('\n');
  };
}
