import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmSpec } from '../support/chm-spec.ts';
import { ROOT, containerLimits, publishedPorts } from '../support/lab.ts';
import { labReset } from '../support/reset.ts';
import { runIdOf, runbook } from '../support/run.ts';

// The deployment seed 004 promises after containerization: resource limits and rotated logs on
// every container, the chatbot's /api/ prefix stripped by nginx, TLS when the operator gives a
// certificate (the defaults and a kept prefix: migrate-chm.test.ts). Real migrations on the lab;
// what docker and nginx actually do is checked.

const config = chmSpec;

function reset() {
  const r = labReset();
  expect(r.code, r.out).toBe(0);
}

const limits = containerLimits;

/** GET over https as a browser would: SNI and certificate checked against `ca` for `host`. */
function viaHttps(
  host: string,
  port: number,
  path: string,
  ca: string,
): Promise<{ status: number; headers: Record<string, any>; body: string; cert: string }> {
  return new Promise((res, rej) => {
    const req = request(
      { host: '127.0.0.1', port, path, servername: host, headers: { Host: host }, ca, agent: false },
      (r) => {
        let body = '';
        const cert = (r.socket as any).getPeerCertificate(true)?.fingerprint256 ?? '';
        r.on('data', (d) => (body += d));
        r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body, cert }));
      },
    );
    req.on('error', rej);
    req.end();
  });
}

/** GET over http with a Host header, returning the headers too (viaHost drops them). */
function viaHttp(
  host: string,
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, any> }> {
  return new Promise((res, rej) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, headers: { Host: host, ...headers }, agent: false },
      (r) => {
        r.resume();
        r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers }));
      },
    );
    req.on('error', rej);
    req.end();
  });
}

describe('the deployment the seed promises', () => {
  // A self-signed certificate for both hostnames, made here; the lab host shares this filesystem.
  // Root-only, like /etc/letsencrypt: preflight and nginx read it as root. Outside /home/ubuntu,
  // which the host fingerprint covers.
  const tls = mkdtempSync('/tmp/cutover-tls-');
  const cert = join(tls, 'fullchain.pem');
  const key = join(tls, 'privkey.pem');

  beforeAll(() => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-keyout',
        key,
        '-out',
        cert,
        '-subj',
        '/CN=chatbot.chmedia.com',
        '-addext',
        'subjectAltName=DNS:chatbot.chmedia.com,DNS:mediahub.chmedia.com',
      ],
      { stdio: 'ignore' },
    );
    chmodSync(key, 0o600);
    reset();
  });
  afterAll(() => rmSync(tls, { recursive: true, force: true }));

  it('preflight (so the dry run) refuses a TLS file that is missing or not what it should be, and CPUs the host does not have: one line each, naming the setting', () => {
    const cfg = config(
      {
        nginx: { tls: { cert: join(tls, 'missing.pem'), key: cert } },
        services: { backend: { limits: { cpus: 512 } } },
      },
      'bad-deploy.yaml',
    );
    const r = runbook('migrate-chm', ['--dry-run', '--config', cfg]);
    expect(r.code, r.stdout).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^.*\`nginx\\.tls\\.cert\` ${join(tls, 'missing.pem')}: no such file on the host: give the certificate \\(full chain\\)'s path on the host, or remove nginx\\.tls to serve http only$`,
        ),
      ),
    );
    expect(lines).toContainEqual(expect.stringMatching(/`nginx\.tls\.key` \S+fullchain\.pem: not a PEM private key/));
    expect(lines).toContainEqual(
      expect.stringMatching(
        /`services\.backend\.limits\.cpus` 512: the host has \d+ CPUs? and docker refuses a limit above that: lower it$/,
      ),
    );
    // the good pair passes preflight (key readable only by root: checked as root)
    const good = runbook('migrate-chm', [
      '--dry-run',
      '--config',
      config({ nginx: { tls: { cert, key } } }, 'good-tls.yaml'),
    ]);
    expect(good.code, good.stderr).toBe(0);
  });

  it('TLS + strip + custom limits, nginx on non-default ports: limits and rotated logs in docker inspect, https with the given certificate, http redirected, /api/x reaching the backend as /x', async () => {
    const cfg = config(
      {
        // the /api/ route strips its prefix (chm.yaml's own), health and stats the backend's paths behind it
        nginx: {
          port: 8080,
          tlsPort: 8443,
          tls: { cert, key },
          limits: { memory: '64m', cpus: 0.25 },
          restart: 'always',
        },
        services: {
          backend: { limits: { memory: '768m', cpus: 0.75 }, restart: 'always' },
          frontend: { limits: { memory: '256m', cpus: 0.5 }, restart: 'always' },
        },
        logs: { maxSize: '5m', maxFile: 3 },
      },
      'tls-strip.yaml',
    );
    const r = runbook('migrate-chm', ['--yes', '--json', '--config', cfg]);
    expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0);
    const runId = runIdOf(r);

    const log = { Type: 'json-file', Config: { 'max-size': '5m', 'max-file': '3' } };
    expect(limits('chatbot-backend')).toEqual({ memoryMiB: 768, cpus: 0.75, log, restart: 'always' });
    expect(limits('chatbot-frontend')).toEqual({ memoryMiB: 256, cpus: 0.5, log, restart: 'always' });
    expect(limits('nginx-proxy')).toEqual({ memoryMiB: 64, cpus: 0.25, log, restart: 'always' });
    // `docker logs` shows nginx's access log (nginx logs to stdout)
    const ports = publishedPorts('nginx-proxy');
    expect(ports).toEqual({
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
      '443/tcp': [{ HostIp: '127.0.0.1', HostPort: '8443' }],
    });

    // https, verified against the certificate made above, for both hostnames (SNI as a browser sends it)
    const pem = readFileSync(cert, 'utf8');
    const health = await viaHttps('chatbot.chmedia.com', 8443, '/api/health?probe=1', pem);
    expect(health.status).toBe(200);
    expect(health.cert).toBe(new X509Certificate(pem).fingerprint256);
    expect(health.headers['x-backend-path']).toBe('/health'); // strip: the backend got /health
    const stats = await viaHttps('chatbot.chmedia.com', 8443, '/api/stats', pem);
    expect([stats.status, stats.headers['x-backend-path']]).toEqual([200, '/stats']);
    expect(JSON.parse(stats.body).digest).toMatch(/^[0-9a-f]{64}$/);
    expect((await viaHttps('chatbot.chmedia.com', 8443, '/', pem)).body).toContain('CHM Chatbot');
    expect((await viaHttps('mediahub.chmedia.com', 8443, '/api/items', pem)).status).toBe(200);
    expect(execFileSync('docker', ['logs', '--tail', '20', 'nginx-proxy'], { encoding: 'utf8' })).toContain(
      'GET /api/stats',
    );

    // http: every request to a named host is redirected to https on the TLS port, path and query kept
    for (const [host, path] of [
      ['chatbot.chmedia.com', '/api/stats?x=1'],
      ['mediahub.chmedia.com', '/'],
    ]) {
      const h = await viaHttp(host, 8080, path);
      expect([h.status, h.headers.location]).toEqual([301, `https://${host}:8443${path}`]);
    }

    const report = readFileSync(resolve(ROOT, 'backups', runId, 'report.md'), 'utf8');
    expect(report).toContain(
      'https://chatbot.chmedia.com:8443/ and https://chatbot.chmedia.com:8443/api/health, https://mediahub.chmedia.com:8443/',
    );
    expect(report).toContain('| chatbot-backend | 768m | 0.75 |');
    expect(report).toMatch(/TLS: https on 127\.0\.0\.1:8443 with \S+fullchain\.pem; http on :8080 redirects there/);
    expect(report).not.toMatch(/TLS: not set up/);

    const rb = runbook('migrate-chm', ['--rollback', runId]);
    expect(rb.code, rb.stderr).toBe(0);
    reset();
  });
});
