import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { chmSchema, type ChmConfig } from './config.ts';
import { composeEnv, composeFile, keepMarked, nginxCheckUrl, nginxConf, nginxTlsMounts, publicUrl, viaNginxPath } from './deploy-files.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const labYaml = () => parse(readFileSync(resolve(ROOT, 'runbooks/chm.lab.yaml'), 'utf8'));
/** The lab config with some settings replaced (one level deep per top-level key), validated as a run would. */
function config(over: Record<string, any> = {}): ChmConfig {
  const base = labYaml();
  for (const [k, v] of Object.entries(over)) base[k] = v && typeof v === 'object' && !Array.isArray(v) ? { ...base[k], ...v } : v;
  return chmSchema.parse(base);
}
const COMPOSE = readFileSync(resolve(ROOT, 'compose/chatbot.compose.yaml'), 'utf8');
const NGINX = readFileSync(resolve(ROOT, 'nginx/nginx.conf'), 'utf8');
const TLS = { cert: '/etc/ssl/chm/fullchain.pem', key: '/etc/ssl/chm/privkey.pem' };
/** The lines that are not whole-line comments. */
const code = (text: string) => text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
const env = (text: string) => Object.fromEntries(text.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)).map(([k, v]) => [k, JSON.parse(v)]));

describe('config: the deploy settings', () => {
  it('has defaults for limits, log rotation and restart when the config says nothing', () => {
    const base = labYaml();
    delete base.deploy;
    const c = chmSchema.parse(base);
    expect(c.deploy).toEqual({
      backend: { memory: '1g', cpus: 1 }, frontend: { memory: '512m', cpus: 0.5 }, nginx: { memory: '128m', cpus: 0.5 },
      logs: { maxSize: '10m', maxFile: 5 }, restart: 'unless-stopped',
    });
    expect(c.chatbot.apiPrefix).toBe('strip');
    expect(c.nginx.tls).toBeUndefined();
    expect(c.nginx.tlsPort).toBe(443);
  });

  it('fills in what a partial deploy block leaves out', () => {
    const c = config({ deploy: { backend: { memory: '2g' }, logs: { maxFile: 3 } } });
    expect(c.deploy.backend).toEqual({ memory: '2g', cpus: 1 });
    expect(c.deploy.logs).toEqual({ maxSize: '10m', maxFile: 3 });
    expect(c.deploy.nginx).toEqual({ memory: '128m', cpus: 0.5 });
  });

  it.each([
    [{ deploy: { backend: { memory: '1.5g' } } }, 'deploy.backend.memory'],
    [{ deploy: { frontend: { memory: '512' } } }, 'deploy.frontend.memory'],
    [{ deploy: { nginx: { memory: '4m' } } }, 'deploy.nginx.memory'],
    [{ deploy: { nginx: { cpus: 0 } } }, 'deploy.nginx.cpus'],
    [{ deploy: { logs: { maxSize: '10 MB' } } }, 'deploy.logs.maxSize'],
    [{ deploy: { restart: 'sometimes' } }, 'deploy.restart'],
    [{ nginx: { tls: { cert: 'fullchain.pem', key: '/k.pem' } } }, 'nginx.tls.cert'],
    [{ nginx: { tls: { cert: '/c.pem' } } }, 'nginx.tls.key'],
    [{ chatbot: { apiPrefix: 'drop' } }, 'chatbot.apiPrefix'],
    [{ hostnames: { chatbot: 'chat.example.com; return 200' } }, 'hostnames.chatbot'],
    [{ hostnames: { mediahub: 'media\nhost' } }, 'hostnames.mediahub'],
    [{ nginx: { bind: '0.0.0.0:80' } }, 'nginx.bind'],
    [{ mediahub: { network: 'net work' } }, 'mediahub.network'],
    [{ chatbot: { data: { chroma: '../etc' } } }, 'chatbot.data.chroma'],
    [{ chatbot: { frontendDir: 'front:end' } }, 'chatbot.frontendDir'],
    [{ chatbot: { backend: { manager: 'supervisor', name: 'x;y', port: 1 } } }, 'chatbot.backend.name'],
    [{ deployDir: '/home/u/deploy $HOME' }, 'deployDir'],
  ])('refuses %j, naming %s', (over, field) => {
    const r = chmSchema.safeParse({ ...labYaml(), ...Object.fromEntries(Object.entries(over).map(([k, v]) => [k, typeof v === 'object' ? { ...labYaml()[k], ...v } : v])) });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0].path.join('.')).toBe(field);
  });

  it('refuses keep with a health or stats path nginx cannot reach (only /api/… goes to the backend)', () => {
    const r = chmSchema.safeParse({ ...labYaml(), chatbot: { ...labYaml().chatbot, apiPrefix: 'keep', healthPath: '/health', statsPath: '/api/stats' } });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toEqual(['chatbot.healthPath']);
    expect(r.error!.issues[0].message).toMatch(/\/health cannot be reached through nginx with apiPrefix keep/);
    expect(chmSchema.safeParse({ ...labYaml(), chatbot: { ...labYaml().chatbot, apiPrefix: 'keep', healthPath: '/api/health', statsPath: '/api/stats' } }).success).toBe(true);
  });
});

describe('viaNginxPath', () => {
  it('strip: the backend path behind /api; keep: the path as it is', () => {
    expect(viaNginxPath('/health', 'strip')).toBe('/api/health');
    expect(viaNginxPath('/', 'strip')).toBe('/api/');
    expect(viaNginxPath('/api/health', 'keep')).toBe('/api/health');
  });
});

describe('keepMarked', () => {
  it('keeps marked lines only when their flag is on, and refuses an unknown flag', () => {
    const t = 'a\nb   # [tls]\nc # [strip]\nd # not a [marker] here';
    expect(keepMarked(t, { tls: false, strip: true })).toBe('a\nc # [strip]\nd # not a [marker] here');
    expect(keepMarked(t, { tls: true, strip: false })).toBe('a\nb   # [tls]\nd # not a [marker] here');
    expect(() => keepMarked('x # [tsl]', { tls: true })).toThrow(/unknown flag .*x # \[tsl\]/);
  });
});

describe('compose.yaml and its .env', () => {
  it('.env carries the limits, log rotation and restart policy; TLS values only with TLS', () => {
    const c = config({ deploy: { backend: { memory: '768m', cpus: 0.75 }, logs: { maxSize: '5m', maxFile: 3 }, restart: 'always' } });
    const e = env(composeEnv(c, 'RUN'));
    expect(e).toMatchObject({
      CUTOVER_RUN: 'RUN', NGINX_PUBLISH: '127.0.0.1:80', RESTART_POLICY: 'always',
      BACKEND_MEMORY: '768m', BACKEND_CPUS: '0.75', FRONTEND_MEMORY: '512m', FRONTEND_CPUS: '0.5', NGINX_MEMORY: '128m', NGINX_CPUS: '0.5',
      LOG_MAX_SIZE: '5m', LOG_MAX_FILE: '3',
    });
    expect(Object.keys(e)).not.toContain('TLS_CERT');
    const t = env(composeEnv(config({ nginx: { tls: TLS, tlsPort: 8443 } }), 'RUN'));
    expect(t).toMatchObject({ NGINX_TLS_PUBLISH: '127.0.0.1:8443', TLS_CERT: TLS.cert, TLS_KEY: TLS.key });
  });

  it('publishes 443 and mounts the certificate only with TLS', () => {
    const off = composeFile(COMPOSE, config());
    expect(code(off)).not.toMatch(/:443"|TLS_CERT|TLS_KEY|# \[tls\]/);
    const on = composeFile(COMPOSE, config({ nginx: { tls: TLS } }));
    expect(on).toContain('"${NGINX_TLS_PUBLISH:?set in .env by cutover}:443"');
    expect(on).toContain('"${TLS_CERT:?set in .env by cutover}:/etc/nginx/tls/fullchain.pem:ro"');
    expect(on).toContain('"${TLS_KEY:?set in .env by cutover}:/etc/nginx/tls/privkey.pem:ro"');
  });

  // Compose itself reads the rendered file with its .env (no daemon needed): the values land where docker takes them.
  const compose = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  it.skipIf(compose.status !== 0)('docker compose config applies every value to every service, TLS on and off', () => {
    for (const tls of [undefined, TLS]) {
      const c = config({ nginx: { tls, tlsPort: 8443 }, deploy: { backend: { memory: '768m', cpus: 0.75 }, nginx: { memory: '64m' }, logs: { maxSize: '5m', maxFile: 3 }, restart: 'always' } });
      const dir = mkdtempSync(join(tmpdir(), 'deploy-files-'));
      writeFileSync(join(dir, 'compose.yaml'), composeFile(COMPOSE, c));
      writeFileSync(join(dir, '.env'), composeEnv(c, '20261122-000000-abcd'));
      writeFileSync(join(dir, 'secrets.env'), '');
      const r = spawnSync('docker', ['compose', '-p', 'chm-chatbot', '-f', join(dir, 'compose.yaml'), '--env-file', join(dir, '.env'), 'config', '--format', 'json'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout).services;
      expect([s['chatbot-backend'].mem_limit, s['chatbot-backend'].cpus]).toEqual(['805306368', 0.75]);
      expect([s['chatbot-frontend'].mem_limit, s['chatbot-frontend'].cpus]).toEqual(['536870912', 0.5]);
      expect([s.nginx.mem_limit, s.nginx.cpus]).toEqual(['67108864', 0.5]);
      for (const name of ['chatbot-backend', 'chatbot-frontend', 'nginx']) {
        expect(s[name].logging).toEqual({ driver: 'json-file', options: { 'max-size': '5m', 'max-file': '3' } });
        expect(s[name].restart).toBe('always');
      }
      const published = s.nginx.ports.map((p: any) => `${p.host_ip}:${p.published}->${p.target}`);
      expect(published).toEqual(tls ? ['127.0.0.1:80->80', '127.0.0.1:8443->443'] : ['127.0.0.1:80->80']);
      const mounts = s.nginx.volumes.map((v: any) => `${v.source}:${v.target}`);
      if (tls) expect(mounts).toEqual(expect.arrayContaining([`${TLS.cert}:/etc/nginx/tls/fullchain.pem`, `${TLS.key}:/etc/nginx/tls/privkey.pem`]));
      else expect(mounts.join(' ')).not.toContain('/etc/nginx/tls');
    }
  });
});

describe('nginx.conf', () => {
  const chatbotApi = (conf: string) => /server_name chatbot\.chmedia\.com;[\s\S]*?location \/api\/ \{([\s\S]*?)\}/.exec(conf)![1];

  it('strip: the chatbot\'s /api/ location takes the prefix off (MediaHub\'s is not touched); keep: passes it on', () => {
    const strip = nginxConf(NGINX, config());
    expect(chatbotApi(strip)).toMatch(/^\s*rewrite \^\/api\/\(\.\*\)\$ \/\$1 break;.*\n\s*proxy_pass \$chatbot_backend;/m);
    expect(strip.match(/rewrite /g)).toHaveLength(1);
    const keep = nginxConf(NGINX, config({ chatbot: { apiPrefix: 'keep', healthPath: '/api/health', statsPath: '/api/stats' } }));
    expect(chatbotApi(keep)).not.toContain('rewrite');
    expect(keep).not.toMatch(/^\s*rewrite /m);
    expect(chatbotApi(keep)).toContain('proxy_pass $chatbot_backend;');
  });

  it('without TLS: port 80 only, no redirect, no certificate', () => {
    const conf = nginxConf(NGINX, config());
    expect(code(conf)).not.toMatch(/443|ssl|return 301|# \[tls\]/);
    expect(conf.match(/listen 80;/g)).toHaveLength(2);
  });

  it('with TLS: both hostnames on 443 with the certificate, http redirected to https on nginx.tlsPort', () => {
    const conf = nginxConf(NGINX, config({ nginx: { tls: TLS }, hostnames: { chatbot: 'bot.example.org', mediahub: 'hub.example.org' } }));
    expect(conf).toMatch(/ssl_certificate\s+\/etc\/nginx\/tls\/fullchain\.pem;/);
    expect(conf).toMatch(/ssl_certificate_key\s+\/etc\/nginx\/tls\/privkey\.pem;/);
    expect(conf).toContain('listen 443 ssl default_server;');
    for (const host of ['bot.example.org', 'hub.example.org'])
      expect(conf).toMatch(new RegExp(`listen 80;\\n\\s*listen 443 ssl;.*\\n\\s*server_name ${host.replaceAll('.', '\\.')};\\n\\s*if \\(\\$scheme = http\\) \\{ return 301 https://\\$host\\$request_uri; \\}`));
    expect(conf).not.toContain('chmedia.com');
    const on8443 = nginxConf(NGINX, config({ nginx: { tls: TLS, tlsPort: 8443 } }));
    expect(on8443.match(/return 301 https:\/\/\$host:8443\$request_uri;/g)).toHaveLength(2);
  });

  it('mounts the certificate for nginx -t only with TLS', () => {
    expect(nginxTlsMounts(config())).toEqual([]);
    expect(nginxTlsMounts(config({ nginx: { tls: TLS } }))).toEqual(['-v', `${TLS.cert}:/etc/nginx/tls/fullchain.pem:ro`, '-v', `${TLS.key}:/etc/nginx/tls/privkey.pem:ro`]);
  });
});

describe('URLs', () => {
  it('checks: http on nginx.port, or https on nginx.tlsPort with TLS; on loopback when nginx binds every address', () => {
    expect(nginxCheckUrl(config(), '/api/health')).toBe('http://127.0.0.1:80/api/health');
    expect(nginxCheckUrl(config({ nginx: { bind: '0.0.0.0', port: 8080 } }), '/')).toBe('http://127.0.0.1:8080/');
    expect(nginxCheckUrl(config({ nginx: { tls: TLS } }), '/')).toBe('https://127.0.0.1:443/');
  });

  it('public: the scheme TLS implies, a non-default port spelled out', () => {
    expect(publicUrl(config(), 'chatbot.chmedia.com')).toBe('http://chatbot.chmedia.com/');
    expect(publicUrl(config({ nginx: { port: 8080 } }), 'chatbot.chmedia.com', '/api/health')).toBe('http://chatbot.chmedia.com:8080/api/health');
    expect(publicUrl(config({ nginx: { port: 8080, tls: TLS } }), 'chatbot.chmedia.com')).toBe('https://chatbot.chmedia.com/');
    expect(publicUrl(config({ nginx: { tls: TLS, tlsPort: 8443 } }), 'm.example')).toBe('https://m.example:8443/');
  });
});
