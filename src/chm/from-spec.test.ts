import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../engine/config.ts';
import { chmSchema } from './config.ts';
import { chmConfigSchema, chmRunbookBase } from './runbook-base.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SPEC = resolve(ROOT, 'runbooks/specs/chm.yaml');

describe('CHM as a spec: migrate-chm reads runbooks/specs/chm.yaml as it reads chm.lab.yaml', () => {
  it('the spec gives exactly the lab config, field for field', () => {
    const fromSpec = loadConfig(SPEC, chmConfigSchema, chmRunbookBase.examples);
    const config = loadConfig(resolve(ROOT, 'runbooks/chm.lab.yaml'), chmSchema);
    expect(fromSpec).toEqual(config);
    // and the lab config still loads through the same schema unchanged
    expect(loadConfig(resolve(ROOT, 'runbooks/chm.lab.yaml'), chmConfigSchema)).toEqual(config);
  });

  it('a spec of another shape is refused naming the field, not half-read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chm-spec-'));
    const refusal = (change: (s: Record<string, any>) => void) => {
      const raw = parse(readFileSync(SPEC, 'utf8'));
      change(raw);
      writeFileSync(join(dir, 's.yaml'), stringify(raw));
      try {
        loadConfig(join(dir, 's.yaml'), chmConfigSchema, chmRunbookBase.examples);
        return 'accepted';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(refusal((s) => { s.services.worker = { ...s.services.backend, port: 9000, name: 'worker' }; }))
      .toMatch(/field `services\.worker`: is not backend or frontend \(migrate-chm moves CHM's shape\)/);
    expect(refusal((s) => { s.data.chroma.mount = '/chroma'; })).toMatch(/field `data\.chroma\.mount`: must be \/data\/chroma_db/);
    expect(refusal((s) => { s.data.pdfs.writers = ['frontend']; })).toMatch(/field `data\.pdfs\.writers`: must be \[backend\]/);
    // the spec's own rules come first, with the spec's field names
    expect(refusal((s) => { s.routes[1].service = 'web'; })).toMatch(/field `routes\.1\.service`: no service web/);
    // a value docker refuses is refused by the spec already, under the spec's field name
    expect(refusal((s) => { s.services.backend.limits.memory = '1m'; })).toMatch(/field `services\.backend\.limits\.memory`: at least 6m/);
  });
});
