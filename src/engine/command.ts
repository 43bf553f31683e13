import { isSecret, reviveSecret, type Secret } from '../util/secret.ts';
import { shJoin } from '../util/quote.ts';

/**
 * Commands are data. Steps build these values; only an executor runs them, and a dry run prints
 * them through the same path. Everything here must survive JSON (journal, saved plans), so the
 * only non-plain value allowed is a Secret, which serialises as [REDACTED].
 */
export type Command = RemoteCommand | UploadCommand | DownloadCommand | DockerCommand | LocalCommand;

/**
 * What a command does, in an operator's words: one line, shown by the plan, the live progress,
 * --interactive and the rollback. The exact command (describe) stays one flag away (--verbose).
 */
export interface Words {
  says?: string;
  /** Reads or checks only: changes nothing on the host (the plan counts it as a check, not a change). */
  reads?: boolean;
}

export interface RemoteCommand extends Words {
  kind: 'remote';
  argv: string[];
  sudo?: boolean;
  /** Run as this user (sudo -u USER -H). */
  user?: string;
  /** Environment for the command; secret values travel on its stdin, never in argv (see remoteInvocation). */
  env?: Record<string, string | Secret>;
  /** Exit codes that count as success (default [0]). */
  okCodes?: number[];
}

export interface UploadCommand extends Words {
  kind: 'upload';
  /** Remote absolute path; written to a temp name and renamed, so it is never half-written. */
  path: string;
  /**
   * File content (text, or bytes such as a zip; a Secret is revealed only by the executor), or a local file to
   * send. Bytes in a journal are JSON's {"type":"Buffer","data":[...]}, made a Buffer again by reviveSecrets.
   */
  content?: string | Buffer | Secret;
  localPath?: string;
  mode?: string;
  /** user:group, set before the file takes its name. */
  owner?: string;
  sudo?: boolean;
}

/** Stream a remote command's stdout into a local file: temp name, sha256, rename only on match. */
export interface DownloadCommand extends Words {
  kind: 'download';
  argv: string[];
  sudo?: boolean;
  /** Environment for the remote command (values may be secrets), as for a RemoteCommand. */
  env?: Record<string, string | Secret>;
  localPath: string;
  /** Remote file holding the expected sha256 (hex) of the stream, read after the stream ends. */
  sha256File?: string;
  /** A human label for progress lines. */
  label?: string;
  expectedBytes?: number;
}

export type DockerOp =
  | { op: 'volumeCreate'; name: string; labels: Record<string, string> }
  /** Removes the volume only if its label io.cutover.run equals runId: never what existed before. */
  | { op: 'volumeRemoveOwned'; name: string; runId: string }
  | { op: 'containerRemoveOwned'; name: string; runId: string };

export type DockerCommand = { kind: 'docker' } & DockerOp & Words;

export interface LocalCommand extends Words {
  kind: 'local';
  argv: string[];
  cwd?: string;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One line an operator can read (and paste): used by the dry run, --verbose and the journal. */
export function describe(cmd: Command): string {
  switch (cmd.kind) {
    case 'remote': {
      const env = cmd.env
        ? Object.entries(cmd.env).map(([k, v]) => `${k}=${typeof v === 'string' ? v : '[REDACTED]'}`)
        : [];
      return `remote${cmd.user ? ` (as ${cmd.user})` : cmd.sudo ? ' (sudo)' : ''}: ${env.length ? `env ${env.join(' ')} ` : ''}${shJoin(cmd.argv)}`;
    }
    case 'upload': {
      const what = cmd.localPath
        ? cmd.localPath
        : isSecret(cmd.content)
          ? '[REDACTED]'
          : `${Buffer.byteLength(cmd.content ?? '')} bytes`;
      return `upload${cmd.sudo ? ' (sudo)' : ''}: ${what} -> ${cmd.path}${cmd.mode ? ` (mode ${cmd.mode})` : ''}${cmd.owner ? ` (owner ${cmd.owner})` : ''}`;
    }
    case 'download':
      return `download: ${shJoin(cmd.argv)} -> ${cmd.localPath}${cmd.sha256File ? ` (sha256 must equal ${cmd.sha256File})` : ''}`;
    case 'docker': {
      const { kind: _k, op, says: _s, reads: _r, ...rest } = cmd;
      return `docker api: ${op} ${JSON.stringify(rest)}`;
    }
    case 'local':
      return `local: ${shJoin(cmd.argv)}${cmd.cwd ? ` (in ${cmd.cwd})` : ''}`;
  }
}

/** The operator's words for a command: its own, or what the docker API call does, else the exact command. */
export function says(cmd: Command): string {
  if (cmd.says) return cmd.says;
  if (cmd.kind === 'docker') {
    switch (cmd.op) {
      case 'volumeCreate':
        return `create volume ${cmd.name} (labelled with this run)`;
      case 'volumeRemoveOwned':
        return `remove volume ${cmd.name}, only if this run created it`;
      case 'containerRemoveOwned':
        return `remove container ${cmd.name}, only if this run created it`;
    }
  }
  return describe(cmd);
}

export const remote = (argv: string[], opts: Omit<RemoteCommand, 'kind' | 'argv'> = {}): RemoteCommand => ({
  kind: 'remote',
  argv,
  ...opts,
});
export const sudo = (argv: string[], opts: Omit<RemoteCommand, 'kind' | 'argv' | 'sudo'> = {}): RemoteCommand => ({
  kind: 'remote',
  argv,
  sudo: true,
  ...opts,
});

/**
 * Secrets reach a remote command through its stdin, never its argv (any local user sees argv in
 * `ps`): the wrapper reads NAME=octal-escaped lines up to an empty one, exports each (printf is the
 * shell's builtin: no process carries the value), then runs the command with the rest of stdin.
 */
const SECRET_ENV =
  'while IFS= read -r l && [ -n "$l" ]; do v=$(printf "%bx" "${l#*=}"); export "${l%%=*}=${v%x}"; done; exec "$@"';

/** Each byte as \0ooo (printf %b reads it back exactly: newlines, quotes, any byte but NUL). */
const octal = (v: string) => [...Buffer.from(v, 'utf8')].map((b) => `\\0${b.toString(8).padStart(3, '0')}`).join('');

export interface Invocation {
  /** The sh command line (sudo and env applied). */
  command: string;
  /** What the command's stdin starts with: the secrets, when it has any. */
  stdin?: string;
}

/** A remote command as the executor sends it: one sh string, and the secrets it needs on stdin. */
export function remoteInvocation(cmd: Pick<RemoteCommand, 'argv' | 'sudo' | 'env' | 'user'>): Invocation {
  const entries = Object.entries(cmd.env ?? {});
  const plain = entries.filter(([, v]) => !isSecret(v)).map(([k, v]) => `${k}=${v}`);
  const secret = entries.filter((e): e is [string, Secret] => isSecret(e[1]));
  const sudoArgv = cmd.user ? ['sudo', '-n', '-u', cmd.user, '-H', '--'] : cmd.sudo ? ['sudo', '-n', '--'] : [];
  const argv = [...(plain.length ? ['env', ...plain] : []), ...cmd.argv];
  if (!secret.length) return { command: shJoin([...sudoArgv, ...argv]) };
  if (secret.some(([k]) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)))
    throw new Error('a secret env name must be a shell name');
  return {
    command: shJoin([...sudoArgv, 'sh', '-c', SECRET_ENV, 'sh', ...argv]),
    stdin: `${secret.map(([k, v]) => `${k}=${octal(v.reveal())}\n`).join('')}\n`,
  };
}

/** Remote argv as one sh string, with sudo and plain env applied (a command with secrets: remoteInvocation). */
export function remoteString(cmd: Pick<RemoteCommand, 'argv' | 'sudo' | 'env' | 'user'>): string {
  const inv = remoteInvocation(cmd);
  if (inv.stdin !== undefined)
    throw new Error('a command with secrets runs through remoteInvocation (its secrets go on stdin)');
  return inv.command;
}

/** Bytes read back from a journal (JSON writes a Buffer as {"type":"Buffer","data":[...]}), else undefined. */
function reviveBytes(v: unknown): Buffer | undefined {
  if (Buffer.isBuffer(v)) return v;
  const o = v as { type?: unknown; data?: unknown } | null;
  return o && typeof o === 'object' && o.type === 'Buffer' && Array.isArray(o.data)
    ? Buffer.from(o.data as number[])
    : undefined;
}

/** A command read back from a journal, its secrets named by variable made Secrets again (read when it runs); bytes Buffers again. */
export function reviveSecrets(cmd: Command): Command {
  const env = (e?: Record<string, string | Secret>) =>
    e && Object.fromEntries(Object.entries(e).map(([k, v]) => [k, reviveSecret(v) as string | Secret]));
  switch (cmd.kind) {
    case 'remote':
    case 'download':
      return cmd.env ? { ...cmd, env: env(cmd.env) } : cmd;
    case 'upload':
      return cmd.content === undefined
        ? cmd
        : { ...cmd, content: reviveBytes(cmd.content) ?? (reviveSecret(cmd.content) as string | Secret) };
    default:
      return cmd;
  }
}
