import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hostFingerprint } from './fingerprint.ts';
import { LAB, ROOT, labScript } from './lab.ts';

/**
 * The lab in its exact pre-migration state, for a test file's start: `lab.sh reset` (20 s or more), skipped
 * when the host already is as the last full reset left it. "As left" is read, never assumed: what runs leave
 * (containers, volumes, dirs, images, mounts) removed as reset removes it, then `lab.sh status` passes and the
 * host fingerprint (containers with their creation times, ports, services, files and the chatbot's data digest)
 * equals the one recorded after that reset, by the same lab scripts and data size. Anything else: a full reset.
 */
const RECORD = resolve(LAB, 'pristine-fingerprint.json');

/** `lab.sh reset` with its output on this process's own (a first run installs for minutes: progress shows). */
function streamed() {
  const r = spawnSync('bash', [resolve(ROOT, 'scripts/lab.sh'), 'reset'], { stdio: 'inherit' });
  return { code: r.status ?? 1, out: '' };
}

/** The lab scripts' contents and the data size: a record made by other scripts or another size is not used. */
function labVersion(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) {
        if (name !== 'node_modules' && name !== '__pycache__') walk(p);
      } else h.update(`${p}\0`).update(readFileSync(p));
    }
  };
  h.update(readFileSync(resolve(ROOT, 'scripts/lab.sh')));
  walk(resolve(ROOT, 'scripts/lab'));
  h.update(existsSync(resolve(LAB, 'size')) ? readFileSync(resolve(LAB, 'size')) : '10M');
  return h.digest('hex');
}

export function labReset(o: { stream?: boolean } = {}): { code: number; out: string } {
  const version = labVersion();
  if (existsSync(RECORD)) {
    const rec = JSON.parse(readFileSync(RECORD, 'utf8')) as { version: string; fingerprint: Record<string, string> };
    if (rec.version === version && labScript('clean').code === 0 && labScript('status').code === 0) {
      if (JSON.stringify(hostFingerprint()) === JSON.stringify(rec.fingerprint))
        return { code: 0, out: 'lab already in its pre-migration state (fingerprint as after the last reset)' };
    }
  }
  const r = o.stream ? streamed() : labScript('reset');
  if (r.code === 0) writeFileSync(RECORD, JSON.stringify({ version, fingerprint: hostFingerprint() }));
  return r;
}

// `tsx test/support/reset.ts` (scripts/test.sh, before the suite): the same, with lab.sh's own output.
if (import.meta.url === `file://${process.argv[1]}`) {
  const r = labReset({ stream: true });
  if (r.out) process.stdout.write(`${r.out}\n`);
  process.exit(r.code);
}
