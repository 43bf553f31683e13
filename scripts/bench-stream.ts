/**
 * One measured transfer through cutover's own data path, in its own process so its peak RSS is
 * its own. Times are measured inside the process (connection made), so tool start-up is excluded
 * from the ratio; the caller also records the wall time.
 *   tsx scripts/bench-stream.ts stream REMOTE_DIR LOCAL_FILE [openssh|ssh2]
 *       tar of REMOTE_DIR streamed into LOCAL_FILE (sha256 on the fly, temp name + rename)
 *   tsx scripts/bench-stream.ts backup - LOCAL_DIR [openssh|ssh2]
 *       the CHM backup steps as migrate-chm plans them for runbooks/specs/chm.yaml (snapshot, then
 *       tar streamed to this machine and to a host-side copy, sha256 on both ends, manifest)
 * Prints one JSON line: {bytes, seconds, maxRssMB}, and with backup {steps: [[step, action index or 'step', ms]...]}.
 */
import { readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { newRunId } from '../src/cli/main.ts';
import { sudo } from '../src/engine/command.ts';
import { loadConfig } from '../src/engine/config.ts';
import { executePlan } from '../src/engine/runner.ts';
import { specSchema } from '../src/migrate/spec.ts';
import { specSteps } from '../src/migrate/steps.ts';
import { SshExecutor, type BulkTransport } from '../src/exec/ssh-executor.ts';
import { SshConnection } from '../src/ssh/connection.ts';

const [mode, src, out, transport = 'openssh'] = process.argv.slice(2);
const ssh = resolve(import.meta.dirname, '../.lab/ssh');
const conn = await SshConnection.connect({
  host: '127.0.0.1',
  port: 2222,
  user: 'ubuntu',
  keyPath: `${ssh}/id_ed25519`,
  knownHostsPath: `${ssh}/known_hosts`,
});
const exec = new SshExecutor(conn, transport as BulkTransport);
let bytes: number;
let runId = '';
const steps: unknown[] = [];
const t0 = process.hrtime.bigint();
if (mode === 'stream') {
  const r = await exec.run({ kind: 'download', argv: ['tar', '-C', src, '-cf', '-', '.'], sudo: true, localPath: out });
  bytes = Number(r.stdout.split(/\s+/)[1]);
} else {
  // The runbook's own backup steps, exactly as migrate-chm plans them for CHM's spec.
  const config = loadConfig(resolve(import.meta.dirname, '../runbooks/specs/chm.yaml'), specSchema);
  runId = newRunId();
  const facts = {
    dataBytes: { chroma: 0, pdfs: 0, transcripts: 0 },
    hostFree: 0,
    neighbours: {},
    ports: '',
    volumes: {},
    images: [],
  };
  // Run by the runner itself, so the actions marked alongside overlap as in a real run.
  const plan = specSteps(config)
    .filter((x) => ['backup.prepare', 'backup.snapshot', 'backup.stream'].includes(x.id))
    .map((step) => ({ step, actions: step.plan({ config, facts, runId, runDir: out }) }));
  // Where the time went, step by step and action by action (ms), in the output line
  const journal = {
    append: (e: { type: string; step?: string; index?: number; ms?: number }) => {
      if (e.ms !== undefined) steps.push([e.step, e.index ?? 'step', e.ms]);
    },
  };
  const r = await executePlan({ plan, exec, journal: journal as never, hooks: { event: () => {} } });
  if (!r.ok) throw new Error(`the backup steps failed at ${r.failedStep}: ${r.error}`);
  bytes = readdirSync(out)
    .filter((f) => f.endsWith('.tar'))
    .reduce((n, f) => n + statSync(resolve(out, f)).size, 0);
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
// the host-side copy removed outside the timed part: cleanup of the bench, not the backup's cost
if (runId) await exec.run(sudo(['rm', '-rf', `/var/lib/cutover/backups/${runId}`]));
exec.close();
console.log(
  JSON.stringify({
    bytes,
    seconds,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    ...(steps.length ? { steps } : {}),
  }),
);
