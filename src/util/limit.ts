/**
 * F with at most N calls in flight; the rest wait their turn, in call order. For read-only probes run at once
 * over one SSH connection: an OpenSSH server takes 10 sessions per connection by default (MaxSessions).
 */
export function limitConcurrency<A extends unknown[], R>(
  n: number,
  f: (...a: A) => Promise<R>,
): (...a: A) => Promise<R> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (...a: A) => {
    if (running >= n) await new Promise<void>((go) => waiting.push(go));
    running++;
    try {
      return await f(...a);
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
