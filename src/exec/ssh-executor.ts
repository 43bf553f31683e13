import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import {
  remoteInvocation,
  remoteString,
  type Command,
  type CommandResult,
  type DockerCommand,
  type DownloadCommand,
  type Invocation,
  type UploadCommand,
} from '../engine/command.ts';

export { remoteInvocation, remoteString };
import type { SshConnection } from '../ssh/connection.ts';
import { isSecret } from '../util/secret.ts';
import { SyncedFile } from '../util/synced-file.ts';
import { CommandFailed, type Executor, type RunOptions } from './executor.ts';
import { ConnectionLost, UserError } from '../util/errors.ts';
import { Session } from './fence.ts';
import { TextSink } from '../util/text-sink.ts';
import { formatBytes } from '../util/bytes.ts';

/**
 * How bulk downloads travel. ssh2 (pure JS) is the default for everything else; for bulk streams
 * the system OpenSSH client can be used instead (CUTOVER_BULK=openssh), with the same key and the
 * same pinned known_hosts (StrictHostKeyChecking=yes). Which is faster is measured by npm run bench.
 */
export type BulkTransport = 'ssh2' | 'openssh';

export function defaultBulkTransport(): BulkTransport {
  const env = process.env.CUTOVER_BULK;
  if (env === 'ssh2' || env === 'openssh') return env;
  // Measured by npm run bench (1G, medians of 3, 2026-11-22): ssh2 in-process 347 MB/s, the
  // OpenSSH client per stream 340 MB/s, raw OpenSSH pipe 503. ssh2 stays the default (no child
  // process, one connection); CUTOVER_BULK=openssh switches.
  return 'ssh2';
}

/** Runs commands for real: remote over one SSH connection, Docker API through the forwarded socket, local via zx. */
export class SshExecutor implements Executor {
  readonly dryRun = false;
  private dockerClient?: Docker;

  /** This process's session of the run: every command runs marked with it (set once the run id is known). */
  session?: Session;

  constructor(
    readonly conn: SshConnection,
    readonly bulk: BulkTransport = defaultBulkTransport(),
  ) {}

  /** A command line as it goes to the host: in this session's marked shell, when there is one. */
  private line(command: string): string {
    return this.session ? this.session.wrap(command) : command;
  }

  /**
   * Make this session the run's only live one on the host and stop what older ones left running (a
   * lost connection's last command): before anything else of a --resume, a --rollback or a reconnect.
   * Returns what it stopped, one entry per process.
   */
  async fence(): Promise<string[]> {
    if (!this.session) return [];
    // Not in the marked shell: the fence is what moves the run to this session (the check would refuse it).
    const r = await this.conn.exec(remoteString({ argv: this.session.fenceArgv(), sudo: true }));
    const last = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0)
      throw new Error(
        `cannot settle the earlier sessions of run ${this.session.runId} on the host: ${last || r.stderr.trim()}`,
      );
    return (JSON.parse(last) as { stopped: string[] }).stopped;
  }

  /** Stream a remote command's stdout into `sink` through the chosen transport. */
  private async streamTo(
    { command, stdin }: Invocation,
    sink: import('node:stream').Writable,
  ): Promise<{ code: number; stderr: string }> {
    if (this.bulk === 'ssh2') {
      const r = await this.conn.exec(this.line(command), { stdout: sink, ...(stdin !== undefined ? { stdin } : {}) });
      return { code: r.code, stderr: r.stderr };
    }
    const t = this.conn.target;
    const child = spawn(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-p',
        String(t.port),
        '-i',
        t.keyPath,
        '-l',
        t.user,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${t.knownHostsPath}`,
        '-o',
        'Ciphers=aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr',
        '-o',
        'Compression=no',
        '-T',
        t.host,
        this.line(command),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child.stdin.end(stdin ?? '');
    const stderrText = new TextSink(65536);
    child.stderr.on('data', (d: Buffer) => stderrText.write(d));
    child.stdout.pipe(sink, { end: false });
    const stop = () => {
      if (child.exitCode === null) child.kill();
    };
    sink.once('error', stop);
    sink.once('close', stop);
    const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? 255)));
    return { code, stderr: stderrText.end() };
  }

  async docker(): Promise<Docker> {
    if (!this.dockerClient) {
      const { default: DockerCtor } = await import('dockerode'); // loaded on first use: keeps the tool's memory small
      this.dockerClient = new DockerCtor({ socketPath: await this.conn.dockerSocket() });
    }
    return this.dockerClient;
  }

  /** Run after every successful reconnect, before anything else goes to the host (the journal's mirror resyncs). */
  afterReconnect?: () => Promise<void>;
  /**
   * Run after a reconnect before the fence: throws TakenOver when another checkout took the run over meanwhile
   * (this process must then touch nothing: not fence the new owner's session, not mirror its journal).
   */
  beforeFence?: () => Promise<void>;

  /** Reconnect as a new session: the lost one is fenced off (its last command stopped) before anything else runs. */
  async reconnect(): Promise<boolean> {
    const ok = await this.conn.reconnect();
    if (!ok) return false;
    await this.beforeFence?.();
    if (this.session) {
      this.session = new Session(this.session.runId);
      this.lastFenced = await this.fence();
    }
    await this.afterReconnect?.().catch(() => undefined);
    return true;
  }

  /** What the last reconnect's fence stopped (the runner reports it). */
  lastFenced: string[] = [];

  async run(cmd: Command, opts: RunOptions = {}): Promise<CommandResult> {
    switch (cmd.kind) {
      case 'remote': {
        const { command, stdin } = remoteInvocation(cmd);
        const r = await this.conn.exec(this.line(command), stdin !== undefined ? { stdin } : {});
        if (!(cmd.okCodes ?? [0]).includes(r.code)) throw new CommandFailed(cmd, r);
        return r;
      }
      case 'upload':
        return this.upload(cmd);
      case 'download':
        return this.download(cmd, opts);
      case 'docker':
        return this.dockerOp(cmd).catch((e: { statusCode?: number; message?: string }) => {
          if (e instanceof ConnectionLost || e?.statusCode || !this.conn.isLost) throw e;
          throw new ConnectionLost(
            `lost the connection to the host during the Docker API call ${cmd.op} ${cmd.name}: ${e?.message ?? e}`,
          );
        });
      case 'local': {
        const { $ } = await import('zx');
        const p = await $({ quiet: true, nothrow: true, cwd: cmd.cwd })`${cmd.argv}`;
        const r = { code: p.exitCode ?? 1, stdout: p.stdout, stderr: p.stderr };
        if (r.code !== 0) throw new CommandFailed(cmd, r);
        return r;
      }
    }
  }

  private async upload(cmd: UploadCommand): Promise<CommandResult> {
    // Created exclusively under a random name with its mode and owner from birth, complete (every byte, fsynced) before
    // it takes its name by a rename that replaces a link there; no directory on the way is a link the app could plant.
    const content = cmd.localPath ? undefined : isSecret(cmd.content) ? cmd.content.reveal() : (cmd.content ?? '');
    const stdin = content ?? createReadStream(cmd.localPath!);
    const bytes = content === undefined ? statSync(cmd.localPath!).size : Buffer.byteLength(content);
    const { nofollow } = await import('../engine/nofollow.ts');
    const argv = nofollow('put', cmd.path, cmd.mode ?? '644', cmd.owner ?? '', String(bytes));
    const r = await this.conn.exec(this.line(remoteString({ argv, sudo: cmd.sudo })), { stdin });
    if (r.code !== 0) throw new CommandFailed(cmd, r);
    return r;
  }

  private async download(cmd: DownloadCommand, opts: RunOptions): Promise<CommandResult> {
    mkdirSync(dirname(cmd.localPath), { recursive: true });
    const part = `${cmd.localPath}.part`;
    const hash = createHash('sha256');
    let bytes = 0;
    let lastReport = 0;
    const label = cmd.label ?? cmd.localPath;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        const now = Date.now();
        if (now - lastReport > 250) {
          lastReport = now;
          opts.onProgress?.({ label, bytes, totalBytes: cmd.expectedBytes });
        }
        cb(null, chunk);
      },
    });
    const file = new SyncedFile(part); // flushed to disk as it arrives; durable when the stream ends
    let localError: NodeJS.ErrnoException | undefined;
    // Caught at once: a full local disk must become an operator error, never an unhandled rejection.
    const done = pipeline(meter, file).catch((e: NodeJS.ErrnoException) => {
      localError = e;
    });
    let r: { code: number; stderr: string };
    try {
      r = await this.streamTo(remoteInvocation({ argv: cmd.argv, sudo: cmd.sudo, env: cmd.env }), meter);
    } catch (e) {
      // The connection went away mid-stream: what arrived is not a backup. Close and remove it.
      meter.destroy();
      await done;
      rmSync(part, { force: true });
      throw e;
    }
    meter.end();
    await done;

    if (localError) {
      rmSync(part, { force: true });
      throw new UserError(localWriteError(localError, part, bytes, cmd.expectedBytes), 1);
    }
    if (r.code !== 0) {
      rmSync(part, { force: true });
      throw new CommandFailed(cmd, { code: r.code, stdout: '', stderr: r.stderr });
    }
    // the end: the real total (the plan's size was an estimate from disk usage)
    opts.onProgress?.({ label, bytes, totalBytes: bytes, estimatedBytes: cmd.expectedBytes, done: true });
    const got = hash.digest('hex');
    if (cmd.sha256File) {
      const s = await this.conn.exec(this.line(remoteString({ argv: ['cat', cmd.sha256File], sudo: cmd.sudo })));
      const want = s.stdout.trim().split(/\s+/)[0];
      if (s.code !== 0 || want !== got) {
        rmSync(part, { force: true });
        throw new CommandFailed(cmd, {
          code: 1,
          stdout: '',
          stderr: `sha256 mismatch for ${label}: local ${got}, host ${want || '(unreadable)'}; the partial file was removed`,
        });
      }
    }
    renameSync(part, cmd.localPath);
    await fsyncPath(dirname(cmd.localPath));

    return { code: 0, stdout: `${got}  ${statSync(cmd.localPath).size}`, stderr: '' };
  }

  private async dockerOp(cmd: DockerCommand): Promise<CommandResult> {
    const d = await this.docker();
    switch (cmd.op) {
      case 'volumeCreate': {
        await d.createVolume({ Name: cmd.name, Labels: cmd.labels });
        return { code: 0, stdout: cmd.name, stderr: '' };
      }
      case 'volumeRemoveOwned': {
        const info = await d.getVolume(cmd.name).inspect().catch(this.absentOn404('volume', cmd.name));
        if (!info) return { code: 0, stdout: 'absent', stderr: '' };
        if (info.Labels?.['io.cutover.run'] !== cmd.runId)
          return { code: 0, stdout: `kept ${cmd.name}: not created by run ${cmd.runId}`, stderr: '' };
        // 409 "in use": a container that just ended may still be being removed (--rm); give it a moment.
        for (let attempt = 0; ; attempt++) {
          try {
            await d.getVolume(cmd.name).remove();
            return { code: 0, stdout: 'removed', stderr: '' };
          } catch (e) {
            const err = e as { statusCode?: number; message?: string };
            if (err.statusCode === 404) return { code: 0, stdout: 'absent', stderr: '' };
            if (err.statusCode !== 409 || attempt >= 20) {
              if (err.statusCode === 409)
                throw new Error(
                  `volume ${cmd.name} is still in use by a container: see docker ps -a --filter volume=${cmd.name}; stop it, then run the rollback again`,
                  { cause: e },
                );
              throw e;
            }
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      }
      case 'containerRemoveOwned': {
        const c = d.getContainer(cmd.name);
        const info = await c.inspect().catch(this.absentOn404('container', cmd.name));
        if (!info) return { code: 0, stdout: 'absent', stderr: '' };
        if (info.Config.Labels?.['io.cutover.run'] !== cmd.runId)
          return { code: 0, stdout: `kept ${cmd.name}: not created by run ${cmd.runId}`, stderr: '' };
        await c.remove({ force: true });
        return { code: 0, stdout: 'removed', stderr: '' };
      }
    }
  }

  /** "Absent" only when the engine said 404; any other failure (a dead connection) is an error, never "done". */
  private absentOn404(what: string, name: string) {
    return (e: { statusCode?: number; message?: string }): undefined => {
      if (e?.statusCode === 404) return undefined;
      if (this.conn.isLost || !e?.statusCode)
        throw new ConnectionLost(`cannot inspect ${what} ${name}: the Docker API over ssh failed (${e?.message ?? e})`);
      throw new Error(`cannot inspect ${what} ${name}: Docker answered ${e.statusCode}: ${e.message}`);
    };
  }

  close(): void {
    this.conn.close();
  }
}

/** One line for a local write that failed: what, where, how far it got, and the fix. */
export function localWriteError(e: NodeJS.ErrnoException, path: string, written: number, expected?: number): string {
  const where = dirname(path);
  const got = `${formatBytes(written)}${expected ? ` of about ${formatBytes(expected)}` : ''}`;
  if (e.code === 'ENOSPC')
    return `local disk full writing ${path} after ${got}: free at least ${formatBytes(Math.max((expected ?? 0) - written, 0) + (64 << 20))} in ${where} (or use --backups-dir on a bigger disk), then run again`;
  if (e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS')
    return `cannot write ${path} (${e.code}): make ${where} writable for this user (or use --backups-dir), then run again`;
  return `writing ${path} failed after ${got}: ${e.message}`;
}

/** fsync a file or a directory (a rename is durable once its directory is synced). */
async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
