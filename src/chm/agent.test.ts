import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const AGENT = resolve(import.meta.dirname, 'agent.py');
const agent = (...args: string[]) => spawnSync('python3', [AGENT, ...args], { maxBuffer: 64 << 20 });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('host agent (python3, run here on temp dirs)', () => {
  const root = mkdtempSync(join(tmpdir(), 'agent-'));
  const src = join(root, 'pdfs');
  mkdirSync(join(src, 'Sub dir'), { recursive: true });
  writeFileSync(join(src, 'Annual Report 2023.pdf'), '%PDF-1.4 one');
  writeFileSync(join(src, 'Sub dir', 'Ünternehmens Übersicht.pdf'), Buffer.alloc(3 << 20, 7));
  const out = join(root, 'backup');
  mkdirSync(out);

  it('tar-stream: stdout, the host copy and its sha256 are the same bytes; the manifest lists every file', () => {
    const r = agent('tar-stream', src, join(out, 'pdfs.tar'));
    expect(r.status, r.stderr.toString()).toBe(0);
    const copy = readFileSync(join(out, 'pdfs.tar'));
    expect(sha(r.stdout)).toBe(sha(copy));
    expect(readFileSync(join(out, 'pdfs.tar.sha256'), 'utf8').split(' ')[0]).toBe(sha(copy));
    const m = JSON.parse(readFileSync(join(out, 'pdfs.tar.manifest.json'), 'utf8'));
    expect(Object.keys(m.files).sort()).toEqual(['Annual Report 2023.pdf', 'Sub dir/Ünternehmens Übersicht.pdf']);
    expect(m.files['Annual Report 2023.pdf'].sha256).toBe(sha(Buffer.from('%PDF-1.4 one')));
    expect(m.bytes).toBe(copy.length);
  });

  it('tar-stream of a missing dir fails and leaves no complete-looking file', () => {
    const r = agent('tar-stream', join(root, 'nope'), join(out, 'nope.tar'));
    expect(r.status).not.toBe(0);
    expect(() => readFileSync(join(out, 'nope.tar'))).toThrow();
  });

  it('verify passes on a faithful restore and names what differs after corruption', () => {
    expect(agent('merge-manifest', out, 'pdfs').status).toBe(0);
    const dst = join(root, 'restored');
    mkdirSync(dst);
    execFileSync('tar', ['-xf', join(out, 'pdfs.tar'), '-C', dst]);
    expect(agent('verify', join(out, 'manifest.json'), 'pdfs', dst).status).toBe(0);
    writeFileSync(join(dst, 'Annual Report 2023.pdf'), '%PDF-1.4 tampered');
    const bad = agent('verify', join(out, 'manifest.json'), 'pdfs', dst);
    expect(bad.status).toBe(5);
    expect(bad.stderr.toString()).toMatch(/1 missing or different \(Annual Report 2023\.pdf\)/);
  });

  it('delta brings a restored copy up to the live dir: changed, added and deleted files', () => {
    const dst = join(root, 'vol');
    mkdirSync(dst);
    execFileSync('tar', ['-xf', join(out, 'pdfs.tar'), '-C', dst]);
    writeFileSync(join(src, 'new.pdf'), 'new');
    writeFileSync(join(src, 'Annual Report 2023.pdf'), '%PDF-1.4 changed after backup');
    rmSync(join(src, 'Sub dir', 'Ünternehmens Übersicht.pdf'));
    const r = agent('delta', join(out, 'manifest.json'), 'pdfs', src, dst);
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ changed: 1, added: 1, deleted: 1 });
    expect(agent('same', `${src}=${dst}`).status).toBe(0);
  });
});
