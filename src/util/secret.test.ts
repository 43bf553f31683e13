import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REDACTED, Secret, scrub } from './secret.ts';

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
  it('scrubs values out of free text', () => {
    expect(scrub('stderr: auth hunter2-very-secret failed', [s])).toBe(`stderr: auth ${REDACTED} failed`);
  });
});
