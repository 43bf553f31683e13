import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ROOT } from './lab.ts';

const tmp = mkdtempSync(join(tmpdir(), 'chm-spec-'));

/** Objects merged key by key at any depth; arrays and scalars replaced; a key set to undefined removed. */
export function merge(a: any, b: any): any {
  if (!(b && typeof b === 'object' && !Array.isArray(b) && a && typeof a === 'object' && !Array.isArray(a))) return b;
  const out: any = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) delete out[k];
    else out[k] = merge(a[k], v);
  }
  return out;
}

/** CHM's spec (runbooks/specs/chm.yaml) with fields replaced (see merge), in a temp file: its path. */
export function chmSpec(over: Record<string, any>, name: string): string {
  const p = join(tmp, name);
  writeFileSync(p, stringify(merge(parse(readFileSync(resolve(ROOT, 'runbooks/specs/chm.yaml'), 'utf8')), over)));
  return p;
}

/** No app endpoint at all: the tool must work from its own checks (most real apps have no health or stats endpoint). */
export const NO_ENDPOINTS = { services: { backend: { check: 'none' } }, checks: [] };

/** The backend's /api/ passed on unchanged (the lab backend serves every route at the root and under /api/ alike). */
export const KEEP_PREFIX = {
  services: { backend: { check: { http: '/api/health' } } },
  routes: [
    { host: 'chatbot.chmedia.com', prefix: '/api/', service: 'backend', stripPrefix: false },
    { host: 'chatbot.chmedia.com', prefix: '/', service: 'frontend' },
  ],
};
