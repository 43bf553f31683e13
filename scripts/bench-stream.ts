/**
 * One measured transfer through cutover's own data path, in its own process so its peak RSS is
 * its own. Times are measured inside the process (connection made), so tool start-up is excluded
 * from the ratio; the caller also records the wall time.
 *   tsx scripts/bench-stream.ts stream REMOTE_DIR LOCAL_FILE [openssh|ssh2]
 *       tar of REMOTE_DIR streamed into LOCAL_FILE (sha256 on the fly, temp name + rename)
 *   tsx scripts/bench-stream.ts backup CHATBOT_DIR LOCAL_DIR [openssh|ssh2]
 *       the CHM backup step as the runbook runs it: host-side archives + manifest by the agent,
 *       then each archive downloaded and checked against the host's sha256
 * Prints one JSON line: {bytes, seconds, maxRssMB}.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { sudo } from '../src/engine/command.ts';
import { SshExecutor, type BulkTransport } from '../src/exec/ssh-executor.ts';
import { SshConnection } from '../src/ssh/connection.ts';

const [mode, src, out, transport = 'openssh'] = process.argv.slice(2);
const ssh = resolve(import.meta.dirname, '../.lab/ssh');
const conn = await SshConnection.connect({ host: '127.0.0.1', port: 2222, user: 'ubuntu', keyPath: `${ssh}/id_ed25519`, knownHostsPath: `${ssh}/known_hosts` });
const exec = new SshExecutor(conn, transport as BulkTransport);
let bytes = 0;
const t0 = process.hrtime.bigint();
if (mode === 'stream') {
  const r = await exec.run({ kind: 'download', argv: ['tar', '-C', src, '-cf', '-', '.'], sudo: true, localPath: out });
  bytes = Number(r.stdout.split(/\s+/)[1]);
} else {
  const host = '/var/lib/cutover/bench-backup';
  await exec.run(sudo(['rm', '-rf', host]));
  await exec.run(sudo(['mkdir', '-p', host]));
  await exec.run({ kind: 'upload', path: '/var/lib/cutover/agent.py', content: readFileSync(resolve(import.meta.dirname, '../src/chm/agent.py'), 'utf8'), mode: '755', sudo: true });
  await exec.run(sudo(['python3', '/var/lib/cutover/agent.py', 'archive', host, `chroma=${src}/chroma_db`, `pdfs=${src}/pdfs`, `transcripts=${src}/transcripts`]));
  for (const n of ['chroma', 'pdfs', 'transcripts']) {
    const r = await exec.run({ kind: 'download', argv: ['cat', `${host}/${n}.tar`], sudo: true, localPath: `${out}/${n}.tar`, sha256File: `${host}/${n}.tar.sha256` });
    bytes += Number(r.stdout.split(/\s+/)[1]);
  }
  await exec.run(sudo(['rm', '-rf', host]));
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
exec.close();
console.log(JSON.stringify({ bytes, seconds, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
