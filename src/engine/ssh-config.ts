import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import type { SshTarget } from '../ssh/connection.ts';

/** The `ssh:` block every runbook config has. Relative paths are relative to the working directory. */
export const sshSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1),
  key: z.string().min(1),
  knownHosts: z.string().default('~/.ssh/known_hosts'),
  /** After a lost connection, how long to keep trying to reconnect before stopping (resumable). */
  reconnectSeconds: z.number().int().min(0).default(30),
});

export const sshExamples = {
  ssh: 'ssh: { host: 203.0.113.10, port: 22, user: ubuntu, key: ~/.ssh/chm.pem }',
  'ssh.host': 'host: 203.0.113.10',
  'ssh.port': 'port: 22',
  'ssh.user': 'user: ubuntu',
  'ssh.key': 'key: ~/.ssh/chm.pem',
  'ssh.knownHosts': 'knownHosts: ~/.ssh/known_hosts',
};

const expand = (p: string) => resolve(p.startsWith('~/') ? `${homedir()}/${p.slice(2)}` : p);

export function sshTarget(c: z.infer<typeof sshSchema>): SshTarget {
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    keyPath: expand(c.key),
    knownHostsPath: expand(c.knownHosts),
    reconnectSeconds: c.reconnectSeconds,
  };
}
