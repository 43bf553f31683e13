import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Client, type ClientChannel } from 'ssh2';
import { ConnectionLost, UserError } from '../util/errors.ts';
import { TextSink } from '../util/text-sink.ts';
import { rememberHostKey, revokedAt, verifyHostKey } from './known-hosts.ts';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  keyPath: string;
  knownHostsPath: string;
  /** Trust an unknown host key on first use and remember it (never a changed or a revoked one). */
  acceptNewHostKey?: boolean;
  connectTimeoutMs?: number;
  /** After a lost connection, keep trying to reconnect this long (default 30). */
  reconnectSeconds?: number;
}

export interface ExecResult {
  code: number;
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  stdin?: string | Buffer | Readable;
  /** Stream stdout here instead of buffering it (stdout in the result is then empty). */
  stdout?: Writable;
  /** Cap on buffered stdout/stderr, to keep memory flat whatever a command prints. */
  maxBuffer?: number;
}

/**
 * One SSH connection (ssh2) for everything: commands, uploads, downloads, and the remote Docker
 * socket forwarded to a local unix socket for dockerode.
 */
/** A command as one short line for an error message (a script given with -c has newlines). */
const oneLine = (command: string) => {
  const first = command.split('\n')[0];
  return first.length > 100 || first !== command ? `${first.slice(0, 100)}…` : first;
};

export class SshConnection {
  private client = new Client();
  private dockerServer?: Server;
  private dockerDir?: string;
  private closed = false;
  /** The connection died under us (sshd gone, network cut): every call fails with ConnectionLost until reconnect(). */
  private lost = false;

  private constructor(readonly target: SshTarget) {}

  static async connect(target: SshTarget): Promise<SshConnection> {
    const c = new SshConnection(target);
    await c.open();
    return c;
  }

  /**
   * Connect again after a lost connection, retrying for about `seconds` (the host may be rebooting
   * or the network flapping). The forwarded Docker socket keeps its local path.
   */
  async reconnect(seconds = this.target.reconnectSeconds ?? 30): Promise<boolean> {
    const until = Date.now() + seconds * 1000;
    for (let wait = 500; ; wait = Math.min(wait * 2, 5000)) {
      this.client.removeAllListeners();
      this.client.on('error', () => {});
      this.client.end();
      this.client = new Client();
      try {
        await this.open();
        this.lost = false;
        return true;
      } catch {
        if (Date.now() + wait > until) return false;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  get isLost(): boolean {
    return this.lost;
  }

  private open(): Promise<void> {
    const t = this.target;
    let privateKey: Buffer;
    try {
      privateKey = readFileSync(t.keyPath);
    } catch {
      throw new UserError(`cannot read the ssh key ${t.keyPath}: check \`ssh.key\` in the config`);
    }
    let hostKeyProblem: UserError | undefined;
    const hostVerifier = (key: Buffer): boolean => {
      const verdict = verifyHostKey(t.knownHostsPath, t.host, t.port, key);
      if (verdict === 'revoked') {
        // Never trusted, whatever --accept-new-host-key says: a revoked key is not a new one.
        const at = `${t.knownHostsPath} line ${revokedAt(t.knownHostsPath, key)}`;
        hostKeyProblem = new UserError(
          `host key of ${t.host}:${t.port} is REVOKED (@revoked at ${at}): refusing to connect, even with ` +
            '--accept-new-host-key. The host may be an impostor: verify its current key out of band, then add that key',
        );
        return false;
      }
      if (verdict === 'match') return true;
      if (verdict === 'unknown' && t.acceptNewHostKey) {
        rememberHostKey(t.knownHostsPath, t.host, t.port, key);
        return true;
      }
      hostKeyProblem =
        verdict === 'unknown'
          ? new UserError(
              `host key of ${t.host}:${t.port} is not in ${t.knownHostsPath}: verify it, then add it (ssh-keyscan -p ${t.port} ${t.host} >> ${t.knownHostsPath}) or pass --accept-new-host-key`,
            )
          : new UserError(
              `HOST KEY CHANGED for ${t.host}:${t.port} (it does not match ${t.knownHostsPath}): refusing to connect. If the host was rebuilt, remove the old entry with ssh-keygen -R '[${t.host}]:${t.port}' -f ${t.knownHostsPath}`,
            );
      return false;
    };
    return new Promise((resolve, reject) => {
      let ready = false;
      const client = this.client;
      const gone = () => {
        if (ready && client === this.client) this.lost = true;
      };
      client
        .on('ready', () => {
          ready = true;
          resolve();
        })
        .on('error', (err: Error & { code?: string; level?: string }) => {
          if (ready)
            gone(); // after the handshake: a dead connection, never an uncaught error
          else reject(hostKeyProblem ?? describeConnectError(err, t));
        })
        .on('close', gone)
        .on('end', gone);
      try {
        this.client.connect({
          host: t.host,
          port: t.port,
          username: t.user,
          privateKey,
          readyTimeout: t.connectTimeoutMs ?? 15_000,
          keepaliveInterval: 15_000,
          keepaliveCountMax: 4,
          hostVerifier,
        });
      } catch (e) {
        reject(
          new UserError(
            `cannot use the ssh key ${t.keyPath} (${(e as Error).message}): check \`ssh.key\`; it must be an unencrypted private key`,
          ),
        );
      }
    });
  }

  /**
   * Run a command string (already quoted for sh). A connection lost before the command's exit status
   * arrived rejects with ConnectionLost: whether it finished on the host is unknown.
   */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const max = opts.maxBuffer ?? 8 * 1024 * 1024;
    const lostError = () =>
      new ConnectionLost(
        `lost the connection to ${this.target.host}:${this.target.port} while running: ${oneLine(command)}`,
      );
    if (this.lost) return Promise.reject(lostError());
    return new Promise((resolve, reject) => {
      const onChannel = (err: Error | undefined, ch: ClientChannel) => {
        if (err)
          return reject(
            this.lost || /Not connected|No response/i.test(err.message)
              ? lostError()
              : new UserError(`ssh exec failed: ${err.message}`),
          );
        // decoded across chunk boundaries: a character split between two chunks stays one
        const outText = new TextSink(max);
        const errText = new TextSink(max);
        let aborted = false;
        if (opts.stdout) {
          const sink = opts.stdout;
          ch.pipe(sink, { end: false });
          // The sink failed (local disk full, …): stop the remote command instead of letting it block on a full window.
          // Keep draining what is in flight (a paused channel would block the remote command on a full
          // window and it would never see the close), and close our side: the remote gets EPIPE.
          const abort = () => {
            if (exit || aborted) return;
            aborted = true;
            ch.unpipe(sink);
            ch.on('data', () => {});
            ch.resume();
            ch.close();
          };
          sink.once('error', abort);
          sink.once('close', abort);
        } else ch.on('data', (d: Buffer) => outText.write(d));
        // stderr is always drained, so a chatty command can never stall the channel.
        ch.stderr.on('data', (d: Buffer) => errText.write(d));
        let exit: { code: number; signal?: string } | undefined;
        ch.on('exit', (code: number | null, signal?: string) => {
          exit = { code: code ?? (signal ? 128 : 255), signal: signal ?? undefined };
        });
        ch.on('close', () => {
          const out = outText.end();
          const errOut = errText.end();
          if (exit) return resolve({ ...exit, stdout: out, stderr: errOut });
          if (aborted)
            return resolve({
              code: 255,
              stdout: out,
              stderr: errOut || 'stopped: the local side of the stream failed',
            });
          // No exit status: the connection went away (the client's close event may come a moment later).
          this.lost = true;
          reject(lostError());
        });
        if (opts.stdin === undefined) ch.end();
        else if (typeof opts.stdin === 'string' || Buffer.isBuffer(opts.stdin)) ch.end(opts.stdin);
        else opts.stdin.pipe(ch);
      };
      try {
        this.client.exec(command, onChannel);
      } catch {
        this.lost = true;
        reject(lostError());
      }
    });
  }

  /** A local unix socket that forwards to the remote Docker socket over this connection. */
  async dockerSocket(remotePath = '/var/run/docker.sock'): Promise<string> {
    if (this.dockerDir) return join(this.dockerDir, 'docker.sock');
    this.dockerDir = mkdtempSync(join(tmpdir(), 'cutover-docker-'));
    const path = join(this.dockerDir, 'docker.sock');
    this.dockerServer = createServer((local) => {
      local.on('error', () => {});
      if (this.lost) return local.destroy();
      try {
        this.client.openssh_forwardOutStreamLocal(remotePath, (err, remote) => {
          if (err) {
            local.destroy();
            return;
          }
          local.pipe(remote).pipe(local);
          local.on('error', () => remote.destroy());
          remote.on('error', () => local.destroy());
          remote.on('close', () => local.destroy());
        });
      } catch {
        // "Not connected": never an uncaught exception; dockerode sees a closed socket
        this.lost = true;
        local.destroy();
      }
    });
    await new Promise<void>((res) => this.dockerServer!.listen(path, res));
    return path;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dockerServer?.close();
    if (this.dockerDir) rmSync(this.dockerDir, { recursive: true, force: true });
    this.client.end();
  }
}

function describeConnectError(err: Error & { code?: string; level?: string }, t: SshTarget): UserError {
  const where = `${t.user}@${t.host}:${t.port}`;
  if (err.code === 'ECONNREFUSED')
    return new UserError(
      `cannot reach ${t.host}:${t.port} (connection refused): check \`ssh.host\`/\`ssh.port\` and that sshd is running`,
    );
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN')
    return new UserError(`cannot resolve ${t.host}: check \`ssh.host\` in the config`);
  if (err.code === 'ETIMEDOUT' || /Timed out while waiting for handshake/.test(err.message))
    return new UserError(`timed out connecting to ${t.host}:${t.port}: check the address, port and firewall`);
  if (err.level === 'client-authentication')
    return new UserError(
      `ssh key ${t.keyPath} was refused by ${where}: check \`ssh.key\` and that its public key is in ~${t.user}/.ssh/authorized_keys`,
    );
  return new UserError(`ssh to ${where} failed: ${err.message}`);
}
