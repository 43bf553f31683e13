import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REDACTED, Secret, reviveSecret, scrub } from './secret.ts';

describe('Secret', () => {
  const s = new Secret('hunter2-very-secret');
  it('prints as [REDACTED] in every way a value gets printed', () => {
    expect(String(s)).toBe(REDACTED);
    expect(`${s}`).toBe(REDACTED);
    expect(JSON.stringify({ password: s })).toBe(`{"password":"${REDACTED}"}`);
    expect(inspect({ nested: { s } })).not.toContain('hunter2');
    expect(new Error(`failed with ${s}`).message).not.toContain('hunter2');
  });
  it('reveals only on request', () => {
    expect(s.reveal()).toBe('hunter2-very-secret');
  });
  it('one from the environment is journaled by its name and read again when an undo replays it', () => {
    process.env.CUTOVER_T_PW = 'pa$$ "w" #1\nline2';
    const j = JSON.parse(JSON.stringify({ env: { PGPASSWORD: Secret.fromEnv('CUTOVER_T_PW') } }));
    expect(j.env.PGPASSWORD).toBe('[REDACTED from $CUTOVER_T_PW]');
    const back = reviveSecret(j.env.PGPASSWORD) as Secret;
    expect(String(back)).toBe(REDACTED);
    expect(back.reveal()).toBe('pa$$ "w" #1\nline2');
    delete process.env.CUTOVER_T_PW;
    expect(() => back.reveal()).toThrow(/the secret \$CUTOVER_T_PW is not set in this shell: export CUTOVER_T_PW=/);
    expect(reviveSecret(REDACTED)).toBe(REDACTED);
  });
  it('scrubs values out of free text', () => {
    expect(scrub('stderr: auth hunter2-very-secret failed', [s])).toBe(`stderr: auth ${REDACTED} failed`);
  });
});
