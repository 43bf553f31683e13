import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Journal } from '../engine/journal.ts';
import { failedSection, freezeSeconds, keptSection, runOutcome, snapshotSummary, stepsTable } from '../migrate/outcome.ts';
import { formatBytes } from '../util/bytes.ts';
import type { ChmConfig } from './config.ts';
import type { ChmFacts } from './facts.ts';
import { FREEZE } from './steps.ts';
import { publicUrl, viaNginxPath } from './deploy-files.ts';

/** Seconds of CHM's write freeze, read from the journal (src/migrate/outcome.ts). */
export const freezeWindow = (journalPath: string) => freezeSeconds(journalPath, FREEZE);
export { keptSection, runOutcome, snapshotSummary };

export function chmReport(ctx: { config: ChmConfig; facts: ChmFacts; runId: string; runDir: string; timings: Record<string, number> }): string {
  const { config: c, facts, runId, runDir, timings } = ctx;
  const journal = resolve(runDir, 'journal.jsonl');
  const freeze = freezeWindow(journal);
  const manifestPath = resolve(runDir, 'manifest.json');
  const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : undefined;
  const entries = Journal.read(journal);
  const o = runOutcome(entries);
  const failed = o.failed;
  const done = (step: string) => entries.some((e) => e.type === 'step-done' && e.step === step);
  const snapshot = snapshotSummary(journal);
  const d = c.deploy;
  const tls = c.nginx.tls;
  const lines = [
    `# CHM migration report — run ${runId}`,
    '',
    `Host: ${c.ssh.user}@${c.ssh.host}:${c.ssh.port} · Compose ${facts.compose} · result: ${o.result}`,
    '',
    ...failedSection(o, 'npx tsx runbooks/migrate-chm.ts', runId, runDir),
    ...stepsTable(timings),
    '## Backups',
    `Local: \`${runDir}\` · on the host: \`/var/lib/cutover/backups/${runId}\` (never deleted by a rollback)`,
    '',
    '| archive | bytes | files | sha256 |',
    '|---|---|---|---|',
    ...(manifest ? Object.entries(manifest.archives as Record<string, { bytes: number; sha256: string; files: object }>).map(([n, a]) => `| ${n}.tar | ${formatBytes(a.bytes)} | ${Object.keys(a.files).length} | \`${a.sha256}\` |`) : ['| (none) | | | |']),
    '',
    '## Snapshot of the live ChromaDB',
    snapshot
      ? `${snapshot.attempts} copy pass${snapshot.attempts === 1 ? '' : 'es'}; ${snapshot.paused_ms === null || snapshot.paused_ms === undefined ? 'the writer was not paused' : `the writer was paused for **${(snapshot.paused_ms / 1000).toFixed(2)} s** (its index files kept changing)`}.`
      : 'not reached',
    '',
    '## Data parity (checked by the agent, file by file; SQLite row by row)',
    ...[
      done('volumes.restore') && '- volumes.restore: every restored file equals the manifest (sha256), nothing extra.',
      done('verify.parity') && '- verify.parity: the volumes the containers started on still equal the backup.',
      done('cutover.start') && '- cutover.start: before the gate opened, the volumes held exactly the final bare-metal data.',
    ].filter((l): l is string => Boolean(l)),
    ...(done('volumes.restore') ? [] : ['not reached']),
    '',
    '## Write freeze',
    freeze !== undefined ? `Writer stopped → the containers serving the final data to the public (gate open): **${freeze.toFixed(2)} s**.` : 'not reached',
    '',
    '## Endpoints (through nginx)',
    `- ${publicUrl(c, c.hostnames.chatbot)}${c.chatbot.healthPath ? ` and ${publicUrl(c, c.hostnames.chatbot, viaNginxPath(c.chatbot.healthPath, c.chatbot.apiPrefix))}` : ''}, ${c.mediahub.checkPaths.map((p) => publicUrl(c, c.hostnames.mediahub, p)).join(', ')}: ${done('verify.endpoints') ? 'checked in verify.endpoints' : 'not reached'}`,
    `- MediaHub containers unchanged: ${done('verify.parity') ? `${facts.mediahub.length} containers, same ids and start times (checked in verify.parity)` : 'not reached'}`,
    `- The chatbot's /api/ reaches its backend ${c.chatbot.apiPrefix === 'strip' ? 'with the prefix stripped (/api/x → /x)' : 'unchanged (/api/x → /api/x)'} (\`chatbot.apiPrefix: ${c.chatbot.apiPrefix}\`).`,
    tls ? `- TLS: https on ${c.nginx.bind}:${c.nginx.tlsPort} with ${tls.cert}; http on :${c.nginx.port} redirects there.` : `- TLS: none, http only (no \`nginx.tls\` in the config).`,
    '',
    '## Containers',
    '| container | memory limit | CPUs |',
    '|---|---|---|',
    `| chatbot-backend | ${d.backend.memory} | ${d.backend.cpus} |`,
    `| chatbot-frontend | ${d.frontend.memory} | ${d.frontend.cpus} |`,
    `| nginx-proxy | ${d.nginx.memory} | ${d.nginx.cpus} |`,
    '',
    `Restart policy \`${d.restart}\`; logs: \`docker logs <container>\` (json-file, rotated at ${d.logs.maxSize}, ${d.logs.maxFile} files kept); usage: \`docker stats chatbot-backend chatbot-frontend nginx-proxy\`.`,
    '',
    ...keptSection(journal),
    ...(o.finished ? [] : ['## Next', failed ? '- See "What failed" above.' : `- The run stopped as asked: \`npx tsx runbooks/migrate-chm.ts --resume ${runId}\` continues it, \`--rollback ${runId}\` undoes it.`, '']),
    '## Still to do by hand, once the migration has finished',
    `- DNS: point ${c.hostnames.chatbot} and ${c.hostnames.mediahub} at this host; nginx answers on ${c.nginx.bind}:${c.nginx.port}${tls ? ` and ${c.nginx.bind}:${c.nginx.tlsPort}` : ''}.`,
    `- Firewall / security group: open ${tls ? `${c.nginx.port} and ${c.nginx.tlsPort}` : `${c.nginx.port} (and ${c.nginx.tlsPort} once TLS is set up)`}; close ${c.chatbot.backend.port} and ${c.chatbot.frontend.port}.`,
    tls
      ? `- TLS certificate renewal: nginx reads ${tls.cert} and ${tls.key} at start; after renewing them, \`docker restart nginx-proxy\`.`
      : `- TLS: not set up (no \`nginx.tls\` in the config): terminate it in front of this host, or give nginx a certificate and key on the host (\`nginx.tls: { cert, key }\`).`,
    `- Cleanup (old venvs, bare-metal service files) is a separate, confirmed step; the bare-metal data dirs stay untouched as a fallback.`,
    `- Undo this migration at any time: \`npx tsx runbooks/migrate-chm.ts --rollback ${runId}\`.`,
    '',
  ];
  return lines.join('\n');
}
