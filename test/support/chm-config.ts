import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ROOT } from './lab.ts';

const tmp = mkdtempSync(join(tmpdir(), 'chm-config-'));

/** The lab's CHM config with settings replaced (objects merged key by key, at any depth), in a temp file: its path. */
export function chmConfig(over: Record<string, any>, name: string): string {
  const merge = (a: any, b: any): any => (b && typeof b === 'object' && !Array.isArray(b) && a && typeof a === 'object'
    ? Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, k in b ? merge(a[k], b[k]) : a[k]]))
    : b);
  const p = join(tmp, name);
  writeFileSync(p, stringify(merge(parse(readFileSync(resolve(ROOT, 'runbooks/chm.lab.yaml'), 'utf8')), over)));
  return p;
}
