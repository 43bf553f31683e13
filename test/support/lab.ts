import { execFileSync, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const LAB = resolve(ROOT, '.lab');
export const SSH_DIR = resolve(LAB, 'ssh');

export const labTarget = (over: Partial<{ knownHostsPath: string; keyPath: string; port: number }> = {}) => ({
  host: '127.0.0.1',
  port: 2222,
  user: 'ubuntu',
  keyPath: resolve(SSH_DIR, 'id_ed25519'),
  knownHostsPath: resolve(SSH_DIR, 'known_hosts'),
  ...over,
});

/** Run a command on the lab host through OpenSSH with the pinned key. */
export function labSsh(command: string): string {
  return execFileSync('ssh', ['-F', resolve(SSH_DIR, 'config'), 'chm-lab', command], { encoding: 'utf8' });
}

export function labScript(cmd: 'reset' | 'status' | 'up' | 'clean', ...args: string[]): { code: number; out: string } {
  const r = spawnSync('bash', [resolve(ROOT, 'scripts/lab.sh'), cmd, ...args], { encoding: 'utf8' });
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

/** fetch, retried once: a service restarted by the test leaves a dead keep-alive socket behind. */
export async function fetchRetry(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    await new Promise((r) => setTimeout(r, 200));
    return fetch(url, init);
  }
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<any> {
  const r = await fetchRetry(url, { headers });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

export async function ingest(document: string, collection = 'faq'): Promise<any> {
  const r = await fetchRetry('http://127.0.0.1:8000/api/ingest', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ collection, document }),
  });
  if (!r.ok) throw new Error(`ingest: HTTP ${r.status}`);
  return r.json();
}

/** HTTP through nginx with a Host header (fetch drops Host). */
export function viaHost(
  host: string,
  path: string,
  opts: { method?: string; body?: string; port?: number; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; headers: Record<string, any> }> {
  return new Promise((res, rej) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: opts.port ?? 80,
        path,
        method: opts.method ?? 'GET',
        headers: { Host: host, ...(opts.body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
        agent: false,
      },
      (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => res({ status: r.statusCode ?? 0, body, headers: r.headers }));
      },
    );
    req.on('error', rej);
    req.end(opts.body);
  });
}

/** What docker runs a container with: memory in MiB, CPUs, log driver and options, restart policy. */
export function containerLimits(name: string) {
  const h = JSON.parse(execFileSync('docker', ['inspect', name], { encoding: 'utf8' }))[0].HostConfig;
  return { memoryMiB: h.Memory / (1 << 20), cpus: h.NanoCpus / 1e9, log: h.LogConfig, restart: h.RestartPolicy.Name };
}

/** The host ports docker publishes for a container: `80/tcp` → [{ HostIp, HostPort }]. */
export const publishedPorts = (name: string): Record<string, { HostIp: string; HostPort: string }[]> =>
  JSON.parse(execFileSync('docker', ['inspect', name], { encoding: 'utf8' }))[0].HostConfig.PortBindings;
