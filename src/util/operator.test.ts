import { hostname, userInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { operatorName } from './operator.ts';

describe('operatorName', () => {
  it('prefers CUTOVER_OPERATOR, then the person behind sudo, then $USER, then the OS account', () => {
    expect(operatorName({ CUTOVER_OPERATOR: 'alice', SUDO_USER: 'bob', USER: 'root' })).toBe('alice');
    expect(operatorName({ SUDO_USER: 'bob', USER: 'root' })).toBe('bob');
    expect(operatorName({ USER: 'carol' })).toBe('carol');
    expect(operatorName({})).toBe(userInfo().username || hostname());
  });
});
