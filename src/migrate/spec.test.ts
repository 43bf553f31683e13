import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../engine/config.ts';
import { specExamples, specSchema, writersOf } from './spec.ts';

const CHM = resolve(import.meta.dirname, '../../runbooks/specs/chm.yaml');
const dir = mkdtempSync(join(tmpdir(), 'spec-'));
type Raw = Record<string, any>;
/** The CHM spec with one change, loaded as migrate.ts would: the one line an operator reads. */
function refusal(change: (s: Raw) => void): string {
  const raw = parse(readFileSync(CHM, 'utf8')) as Raw;
  change(raw);
  const file = join(dir, 'spec.yaml');
  writeFileSync(file, stringify(raw));
  try {
    loadConfig(file, specSchema, specExamples);
  } catch (e) {
    return (e as Error).message;
  }
  return 'accepted';
}

describe('a spec: one app on one host, every rule between fields checked at load', () => {
  it('the systemd lab app is a spec too: a web server, a worker with no port, the host PostgreSQL', () => {
    const s = loadConfig(resolve(import.meta.dirname, '../../runbooks/specs/sdlab.yaml'), specSchema, specExamples);
    expect(Object.values(s.services).map((v) => `${v.manager}:${v.name}:${v.port ?? '-'}`)).toEqual([
      'systemd:sdlab-web:8100',
      'systemd:sdlab-worker:-',
      'systemd:sdlab-prune.timer:-',
      'systemd:postgresql:5434',
    ]);
    expect(writersOf(s)).toEqual(['web', 'worker', 'prune']);
  });

  it('CHM is a spec: its services, data sets, routes and neighbour', () => {
    const s = loadConfig(CHM, specSchema, specExamples);
    expect(Object.keys(s.services)).toEqual(['backend', 'frontend']);
    expect(Object.entries(s.data).map(([k, d]) => `${k}:${d.kind}`)).toEqual([
      'chroma:chromadb',
      'pdfs:files',
      'transcripts:files',
    ]);
    expect(writersOf(s)).toEqual(['backend']);
    expect(s.routes.map((r) => `${r.host}${r.prefix}->${r.service}`)).toEqual([
      'chatbot.chmedia.com/api/->backend',
      'chatbot.chmedia.com/->frontend',
    ]);
    expect(s.services.frontend.check).toEqual({ tcp: true });
    expect(s.services.backend.restart).toBe('unless-stopped');
  });

  it('refuses, in one line naming the field, what would make the migration wrong', () => {
    const cases: [string, (s: Raw) => void, RegExp][] = [
      [
        'a data set no service writes',
        (s) => {
          s.data.pdfs.writers = [];
        },
        /field `data\.pdfs\.writers`: no service writes it/,
      ],
      [
        'a writer that is not a service',
        (s) => {
          s.data.pdfs.writers = ['worker'];
        },
        /field `data\.pdfs\.writers\.0`: no service worker \(services: backend, frontend\)/,
      ],
      [
        'a route to an unknown service',
        (s) => {
          s.routes[1].service = 'web';
        },
        /field `routes\.1\.service`: no service web/,
      ],
      [
        'an internal location over a database',
        (s) => {
          s.nginx = { internal: [{ prefix: '/protected/', data: 'nope' }] };
        },
        /field `nginx\.internal\.0\.data`: no data set nope \(data: chroma, pdfs, transcripts\)/,
      ],
      [
        'a body size nginx would not read',
        (s) => {
          s.routes[0].maxBodySize = '256 MB';
        },
        /field `routes\.0\.maxBodySize`/,
      ],
      [
        'a port two services claim',
        (s) => {
          s.services.frontend.port = 8000;
        },
        /field `services\.frontend\.port`: 8000 is already services\.backend\.port/,
      ],
      [
        "nginx on a service's port",
        (s) => {
          s.nginx.port = 3000;
        },
        /field `nginx\.port`: 3000 is services\.frontend\.port/,
      ],
      [
        'two data sets in one dir',
        (s) => {
          s.data.pdfs.path = '/home/ubuntu/chm-chatbot/chroma_db/pdfs';
        },
        /field `data\.pdfs\.path`: .* overlaps data\.chroma\.path/,
      ],
      [
        'one host and prefix routed twice',
        (s) => {
          s.routes[1].prefix = '/api/';
        },
        /field `routes\.1\.prefix`: chatbot\.chmedia\.com\/api\/ is already routes\.0/,
      ],
      [
        'a pm2 service without its ecosystem file',
        (s) => {
          delete s.services.frontend.ecosystem;
        },
        /field `services\.frontend\.ecosystem`: a pm2 service needs/,
      ],
      [
        'a postgres data set into nothing',
        (s) => {
          s.data.db = {
            path: '/var/lib/postgresql',
            kind: 'postgres',
            writers: ['backend'],
            mount: '/x',
            postgres: { db: 'app', user: 'app', into: 'db' },
          };
        },
        /field `data\.db\.postgres\.into`: no service db/,
      ],
      [
        'a field nobody reads (a typo)',
        (s) => {
          s.services.backend.prot = 1;
        },
        /field `services\.backend`: Unrecognized key: "prot"/,
      ],
      [
        'a manager we do not know',
        (s) => {
          s.services.backend.manager = 'runit';
        },
        /field `services\.backend\.manager`: .*example: manager: systemd/,
      ],
      [
        'a hostname nginx would read as syntax',
        (s) => {
          s.routes[0].host = 'a.com; return 200';
        },
        /field `routes\.0\.host`: a DNS hostname/,
      ],
      [
        'a check on a service with no port',
        (s) => {
          delete s.services.frontend.port;
        },
        /field `services\.frontend\.check`: a check needs the port/,
      ],
      [
        'a route to a service with no port',
        (s) => {
          delete s.services.frontend.port;
          s.services.frontend.check = 'none';
        },
        /field `routes\.1\.service`: services\.frontend has no port/,
      ],
      [
        'a neighbour that is the app itself',
        (s) => {
          s.neighbours[0].project = 'chm-chatbot';
        },
        /field `neighbours\.0\.project`: chm-chatbot is this app's own project/,
      ],
    ];
    for (const [what, change, expected] of cases) {
      const line = refusal(change);
      expect(line, what).toMatch(expected);
      expect(line.split('\n'), what).toHaveLength(1);
    }
  });
});
