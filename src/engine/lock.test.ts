import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RemoteCommand } from './command.ts';
import { readFileSync } from 'node:fs';
import { heldElsewhereMessage, lockHeldMessage, parseLockOwner, releaseLockCmd, takeLockCmd } from './lock.ts';

/** Run a lock command here, as the host would, without sudo. */
const run = (c: RemoteCommand) => spawnSync(c.argv[0], c.argv.slice(1), { encoding: 'utf8' });
const owner = (runId: string, runbook: string) => ({
  runId,
  runbook,
  operator: 'alice',
  resume: `npx tsx runbooks/${runbook}.ts --resume ${runId}`,
  rollback: `npx tsx runbooks/${runbook}.ts --rollback ${runId}`,
});

describe('host lock (the shell the host runs, run here)', () => {
  it('one run holds it; the same run re-enters; another is refused with the holder, whose own next commands the message names', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lock-')), 'lock');
    const a = owner('20261122-010000-aaaa', 'pg');
    expect(run(takeLockCmd(a, dir, '')).status).toBe(0);
    expect(run(takeLockCmd(a, dir, '')).status).toBe(0);
    const lost = run(takeLockCmd(owner('20261122-020000-bbbb', 'migrate-chm'), dir, ''));
    expect(lost.status).toBe(75);
    const held = parseLockOwner(lost.stderr)!;
    expect(held).toMatchObject({ runId: a.runId, runbook: 'pg' });
    const msg = lockHeldMessage(held, 'npx tsx runbooks/migrate-chm.ts', dir);
    expect(msg).toMatch(
      /^host is locked by run 20261122-010000-aaaa of pg \(operator alice, since \d{4}-\d\d-\d\dT[\d:]+Z\): /,
    );
    expect(msg).toContain('`npx tsx runbooks/pg.ts --rollback 20261122-010000-aaaa`');
    expect(msg).not.toContain('migrate-chm');
    run(releaseLockCmd(dir, '20261122-020000-bbbb')); // not the holder: nothing happens
    expect(run(takeLockCmd(owner('20261122-020000-bbbb', 'migrate-chm'), dir, '')).status).toBe(75);
    run(releaseLockCmd(dir, a.runId));
    expect(run(takeLockCmd(owner('20261122-020000-bbbb', 'migrate-chm'), dir, '')).status).toBe(0);
  });
  it("a lock an older version took (no runbook named) falls back to this runbook's command", () => {
    const held = parseLockOwner('{"runId":"r1","operator":"bob","since":"s"}')!;
    expect(lockHeldMessage(held, 'npx tsx runbooks/verify-stack.ts')).toContain(
      '`npx tsx runbooks/verify-stack.ts --rollback r1`',
    );
  });
  it("the run's own lock, re-entered, names who holds it now: a take-over is recorded, and the message says how to take over", () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lock-')), 'lock');
    const a = { ...owner('20261122-010000-aaaa', 'migrate'), machine: 'laptop-a:/home/a/cutover/backups' };
    expect(run(takeLockCmd(a, dir, '')).status).toBe(0);
    const b = { ...a, machine: 'laptop-b:/home/b/cutover/backups', operator: 'bob' };
    expect(run(takeLockCmd(b, dir, '')).status).toBe(0);
    const now = parseLockOwner(readFileSync(join(dir, 'owner.json'), 'utf8'))!;
    expect(now).toMatchObject({ runId: a.runId, machine: b.machine, operator: 'bob' });
    expect(heldElsewhereMessage({ ...a, since: 'T' })).toMatch(
      /^run 20261122-010000-aaaa is held by laptop-a:\/home\/a\/cutover\/backups \(operator alice, since T\): it may still be running there\. .*--take-over/,
    );
  });
});
