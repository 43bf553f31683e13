import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RemoteCommand } from './command.ts';
import { releaseLockCmd, takeLock } from './lock.ts';

/** Run a lock command here (as the host would, without sudo). */
const run = (c: RemoteCommand) => spawnSync(c.argv[0], c.argv.slice(1), { encoding: 'utf8' });

describe('host lock (the shell the host runs, run here)', () => {
  it('one run holds it; the same run re-enters; another run is told who holds it, since when, and what to do', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lock-')), 'lock');
    expect(run(takeLock(dir, '20261122-010000-aaaa', 'alice').cmd as RemoteCommand).status).toBe(0);
    expect(run(takeLock(dir, '20261122-010000-aaaa', 'alice').cmd as RemoteCommand).status).toBe(0);
    const lost = run(takeLock(dir, '20261122-020000-bbbb', 'bob').cmd as RemoteCommand);
    expect(lost.status).toBe(75);
    expect(lost.stderr.trim()).toMatch(/^the host is locked by run 20261122-010000-aaaa \(operator alice, since \d{4}-\d\d-\d\dT[\d:]+Z\): .*--resume or --rollback that run$/);
    run(releaseLockCmd(dir, '20261122-020000-bbbb')); // not the holder: nothing happens
    expect(run(takeLock(dir, '20261122-020000-bbbb', 'bob').cmd as RemoteCommand).status).toBe(75);
    run(releaseLockCmd(dir, '20261122-010000-aaaa'));
    expect(run(takeLock(dir, '20261122-020000-bbbb', 'bob').cmd as RemoteCommand).status).toBe(0);
  });
});
