/**
 * One measured transfer through cutover's own data path (ssh2 exec stream -> file, sha256 on the
 * fly, temp name + rename), in its own process so its peak RSS is its own.
 *   tsx scripts/bench-stream.ts REMOTE_DIR LOCAL_FILE
 * Prints one JSON line: {bytes, seconds, maxRssMB}.
 */
import { resolve } from 'node:path';
import { SshExecutor } from '../src/exec/ssh-executor.ts';
import { SshConnection } from '../src/ssh/connection.ts';

const [dir, out] = process.argv.slice(2);
const ssh = resolve(import.meta.dirname, '../.lab/ssh');
const conn = await SshConnection.connect({ host: '127.0.0.1', port: 2222, user: 'ubuntu', keyPath: `${ssh}/id_ed25519`, knownHostsPath: `${ssh}/known_hosts` });
const exec = new SshExecutor(conn);
const t0 = process.hrtime.bigint();
const r = await exec.run({ kind: 'download', argv: ['tar', '-C', dir, '-cf', '-', '.'], sudo: true, localPath: out });
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
exec.close();
console.log(JSON.stringify({ bytes: Number(r.stdout.split(/\s+/)[1]), seconds, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
