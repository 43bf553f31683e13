import { describe, expect, it } from 'vitest';
import { limitConcurrency } from './limit.ts';

describe('limitConcurrency', () => {
  it('never has more than N calls in flight, starts the rest in call order, and passes results and errors through', async () => {
    let inFlight = 0;
    let most = 0;
    const started: number[] = [];
    const slow = limitConcurrency(3, async (i: number) => {
      started.push(i);
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 5 + (i % 3) * 3));
      inFlight--;
      if (i === 7) throw new Error('seven');
      return i * 2;
    });
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => slow(i)));
    expect(most).toBe(3);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      0,
      2,
      4,
      6,
      8,
      10,
      12,
      'seven',
      16,
      18,
    ]);
    expect(await slow(1)).toBe(2); // a failed call freed its slot
  });
});
