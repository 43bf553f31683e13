import { inspect } from 'node:util';

export const REDACTED = '[REDACTED]';

/** A value that never prints: logs, journal, plans, errors and reports all see [REDACTED]. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The only way to read the value; call it at the last moment, inside an executor. */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
  [Symbol.toPrimitive](): string {
    return REDACTED;
  }
}

export function isSecret(v: unknown): v is Secret {
  return v instanceof Secret;
}

/** Replace every occurrence of the given secrets' values in free text (stderr of a command, say). */
export function scrub(text: string, secrets: readonly Secret[]): string {
  let out = text;
  for (const s of secrets) {
    const v = s.reveal();
    if (v.length >= 3) out = out.split(v).join(REDACTED);
  }
  return out;
}
