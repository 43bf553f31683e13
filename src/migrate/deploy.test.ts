import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../engine/config.ts';
import { checkUrl, composeFile, literal, nginxConf, publicUrl } from './deploy.ts';
import { specSchema, type Spec } from './spec.ts';

const RUN = '20261203-000000-abcd';
const CHM = () => loadConfig(resolve(import.meta.dirname, '../../runbooks/specs/chm.yaml'), specSchema);
const withTls = (s: Spec): Spec => ({
  ...s,
  nginx: { ...s.nginx, port: 8080, tlsPort: 8443, tls: { cert: '/etc/tls/full.pem', key: '/etc/tls/key.pem' } },
});
/** nginx.conf without comments: server blocks by server_name, each its lines. */
const servers = (conf: string) =>
  Object.fromEntries(
    conf
      .split('    server {')
      .slice(1)
      .map((b) => [/server_name (\S+);/.exec(b)?.[1] ?? 'default', b]),
  );

describe('compose.yaml rendered from a spec', () => {
  it("CHM's spec: the names it gives, its volumes external, its limits, every container on MediaHub's network", () => {
    const doc = parse(composeFile(CHM(), RUN));
    expect(doc.name).toBe('chm-chatbot');
    expect(
      Object.fromEntries(Object.entries(doc.services).map(([k, v]: [string, any]) => [k, v.container_name])),
    ).toEqual({ backend: 'chatbot-backend', frontend: 'chatbot-frontend', nginx: 'nginx-proxy' });
    expect(doc.services.backend.image).toBe(`chm-chatbot-backend:${RUN}`);
    expect(doc.services.backend.volumes).toEqual([
      'chatbot_chroma:/data/chroma_db',
      'chatbot_pdfs:/data/pdfs',
      'chatbot_transcripts:/data/transcripts',
    ]);
    expect(doc.volumes).toEqual({
      chatbot_chroma: { external: true },
      chatbot_pdfs: { external: true },
      chatbot_transcripts: { external: true },
    });
    expect([doc.services.backend.mem_limit, doc.services.backend.cpus, doc.services.nginx.mem_limit]).toEqual([
      '1g',
      1,
      '128m',
    ]);
    expect(doc.services.frontend.environment.BACKEND_URL).toBe('http://chatbot-backend:8000');
    for (const svc of Object.values(doc.services) as any[]) expect(svc.networks).toContain('mediahub');
    expect(doc.networks.mediahub).toEqual({ external: true });
    expect(doc.services.nginx.ports).toEqual(['127.0.0.1:80:80']);
    expect(parse(composeFile(withTls(CHM()), RUN)).services.nginx.ports).toEqual([
      '127.0.0.1:8080:80',
      '127.0.0.1:8443:443',
    ]);
  });

  it('a value with $ means itself: compose reads $$ as one $, so no variable of the host is put in', () => {
    expect(literal('p$ss ${HOME} $$x')).toBe('p$$ss $${HOME} $$$$x');
    const s = CHM();
    s.services.backend.env = { ...s.services.backend.env, PASS: 'p$ss ${HOME} $$x' };
    s.data.pdfs.mount = '/data$X';
    const doc = parse(composeFile(s, RUN));
    expect(doc.services.backend.environment.PASS).toBe('p$$ss $${HOME} $$$$x');
    expect(doc.services.backend.volumes).toContain('chatbot_pdfs:/data$$X');
  });
});

describe('nginx.conf rendered from a spec', () => {
  it("each route to its service's container by name (a service key may be a neighbour's too), behind the gate; the prefix stripped where asked", () => {
    const b = servers(nginxConf(CHM()));
    const chatbot = b['chatbot.chmedia.com'];
    expect(chatbot).toContain('include /etc/nginx/gate/app.conf;');
    expect(chatbot).toMatch(
      /location \/api\/ \{\n\s+set \$up_backend http:\/\/chatbot-backend:8000;\n\s+rewrite \^\/api\/\(\.\*\)\$ \/\$1 break;/,
    );
    expect(chatbot).toMatch(
      /location \/ \{\n\s+set \$up_frontend http:\/\/chatbot-frontend:3000;\n\s+proxy_pass \$up_frontend;/,
    );
    expect(b.default).toContain('return 444;');
  });

  it('a neighbour with routes is served as it was, with no gate (it is not migrated); with TLS every host on 443 and http redirected to the TLS port', () => {
    const hub = servers(nginxConf(CHM()))['mediahub.chmedia.com'];
    expect(hub).not.toContain('gate');
    expect(hub).toMatch(/location \/ \{\n\s+set \$nb_0_0 http:\/\/mediahub-frontend:3000;/);
    expect(hub).toMatch(
      /location \/api\/ \{\n\s+set \$nb_0_1 http:\/\/mediahub-backend:8000;\n\s+proxy_pass \$nb_0_1;/,
    );
    expect(hub).not.toContain('rewrite');
    const tls = servers(nginxConf(withTls(CHM())));
    for (const h of ['chatbot.chmedia.com', 'mediahub.chmedia.com']) {
      expect(tls[h]).toContain('listen 443 ssl;');
      expect(tls[h]).toContain('if ($scheme = http) { return 301 https://$host:8443$request_uri; }');
    }
    expect(nginxConf(CHM())).not.toMatch(/443|ssl/);
  });

  it("per route: the body size, timeouts and buffering the app needs; an internal location serves a data set read-only from nginx's own mount", () => {
    const s = CHM();
    s.routes[0] = { ...s.routes[0], maxBodySize: '256m', readTimeout: '15m', buffering: false };
    s.nginx.internal = [{ prefix: '/protected/', data: 'pdfs' }];
    const chatbot = servers(nginxConf(s))['chatbot.chmedia.com'];
    const loc = (p: string) => chatbot.slice(chatbot.indexOf(`location ${p} {`)).split('\n        }')[0];
    expect(loc(s.routes[0].prefix)).toMatch(
      /client_max_body_size 256m;\n\s+proxy_read_timeout 15m;\n\s+proxy_send_timeout 60s;/,
    );
    expect(loc(s.routes[0].prefix)).toContain('proxy_request_buffering off;');
    const other = s.routes.find((r) => r.host === s.routes[0].host && r.prefix !== s.routes[0].prefix)!;
    expect(loc(other.prefix)).toContain('client_max_body_size 100m;'); // the default, made explicit
    expect(loc(other.prefix)).not.toContain('buffering off');
    expect(loc('/protected/')).toBe(
      'location /protected/ {\n            internal;\n            alias /srv/cutover-internal/pdfs/;',
    );
    expect(parse(composeFile(s, RUN)).services.nginx.volumes).toContain('chatbot_pdfs:/srv/cutover-internal/pdfs:ro');
    // nginx itself accepts what is rendered: deploy.nginx-test runs nginx -t on it (the integration tests)
  });

  it("the checks' URL and the public one follow TLS and the ports", () => {
    expect(checkUrl(CHM(), '/api/health')).toBe('http://127.0.0.1:80/api/health');
    expect(checkUrl(withTls(CHM()), '/')).toBe('https://127.0.0.1:8443/');
    expect(publicUrl(CHM(), 'chatbot.chmedia.com', '/api/health')).toBe('http://chatbot.chmedia.com/api/health');
    expect(publicUrl(withTls(CHM()), 'mediahub.chmedia.com')).toBe('https://mediahub.chmedia.com:8443/');
  });
});

describe('the spec refuses names and routes that cannot work, naming the field', () => {
  const raw = () => parse(JSON.stringify(CHM()));
  const issues = (s: unknown) => {
    const r = specSchema.safeParse(s);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  it('two containers or volumes of one name; a neighbour host without routes; two .dockerignores for one context', () => {
    const a = raw();
    a.services.frontend.container = 'chatbot-backend';
    expect(issues(a)).toContainEqual(
      expect.stringMatching(
        /^services\.frontend\.container: chatbot-backend is already the name of services\.backend\.container/,
      ),
    );
    const b = raw();
    b.data.pdfs.volume = 'chatbot_chroma';
    expect(issues(b)).toContainEqual(expect.stringMatching(/^data\.pdfs\.volume: chatbot_chroma is already/));
    const c = raw();
    c.neighbours[0].routes = [];
    expect(issues(c)).toContainEqual(
      expect.stringMatching(/^neighbours\.0\.host: this app's nginx serves mediahub\.chmedia\.com only by routes/),
    );
    const d = raw();
    d.services.frontend.build.context = d.services.backend.build.context;
    expect(issues(d)).toContainEqual(
      expect.stringMatching(/^services\.frontend\.build\.dockerignore: services\.backend builds from the same context/),
    );
    expect(issues(raw())).toEqual([]);
  });
});
