import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from './facts.ts';
import { fileSafe } from './ops.ts';

export interface BackupEntry {
  runId: string;
  dir: string;
  /** Snapshot time (the manifest's), bytes of the dump, tables and rows in it. */
  at: string;
  bytes: number;
  tables: number;
  rows: number;
  /** What a restore of it can be checked against. */
  checks: 'row counts and content sums' | 'row counts only';
  /** The dump is there and has the manifest's size; else why not. */
  problem?: string;
}

/** The backups of database DB in backupsDir (backups/<run>/<db>.manifest.json beside its .dump), newest first. */
export function listBackups(backupsDir: string, db: string): BackupEntry[] {
  if (!existsSync(backupsDir)) return [];
  const f = fileSafe(db);
  const out: BackupEntry[] = [];
  for (const runId of readdirSync(backupsDir)) {
    const dir = join(backupsDir, runId);
    const mf = join(dir, `${f}.manifest.json`);
    if (!existsSync(mf)) continue;
    let m: Manifest;
    try {
      m = JSON.parse(readFileSync(mf, 'utf8')) as Manifest;
    } catch {
      continue;
    }
    if (m.db !== db) continue;
    const dump = join(dir, `${f}.dump`);
    const size = existsSync(dump) ? statSync(dump).size : -1;
    out.push({
      runId,
      dir,
      at: m.at,
      bytes: m.bytes,
      tables: m.tables.length,
      rows: m.tables.reduce((n, t) => n + t.rows, 0),
      checks: m.tables.every((t) => t.sum !== undefined) ? 'row counts and content sums' : 'row counts only',
      ...(size < 0
        ? { problem: 'the dump is missing' }
        : size !== m.bytes
          ? { problem: `the dump is ${size} bytes, the manifest says ${m.bytes}` }
          : {}),
    });
  }
  return out.sort((a, b) => b.at.localeCompare(a.at) || b.runId.localeCompare(a.runId));
}
