import { inspect } from 'node:util';
import { UserError } from './errors.ts';

export const REDACTED = '[REDACTED]';

/** How a Secret read from an environment variable is written in a journal: the variable, never the value. */
const FROM_ENV = /^\[REDACTED from \$([A-Za-z_][A-Za-z0-9_]*)\]$/;

/**
 * A value that never prints: logs, journal, plans, errors and reports all see [REDACTED]. One read
 * from the operator's environment (fromEnv) is journaled by its variable's name, so an undo replayed
 * from the journal later (a rollback in another shell) reads the variable again when it runs.
 */
export class Secret {
  readonly #value: string | undefined;
  /** The environment variable the value comes from, if it does. */
  readonly env: string | undefined;
  constructor(value: string | undefined, env?: string) {
    this.#value = value;
    this.env = env;
  }
  /** The value of $NAME, read when it is needed (reveal), not when the plan is made. */
  static fromEnv(name: string): Secret {
    return new Secret(undefined, name);
  }
  /** The only way to read the value; call it at the last moment, inside an executor. */
  reveal(): string {
    if (this.#value !== undefined) return this.#value;
    const v = this.env ? process.env[this.env] : undefined;
    if (v === undefined) throw new SecretMissing(this.env ?? '(unnamed)');
    return v;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return this.env ? `[REDACTED from $${this.env}]` : REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
  [Symbol.toPrimitive](): string {
    return REDACTED;
  }
}

/** A secret's variable is not set in this shell: the operator's error, with the fix. */
export class SecretMissing extends UserError {
  constructor(readonly variable: string) {
    super(
      `the secret $${variable} is not set in this shell: export ${variable}=... (the same value as the run used), then run again`,
    );
  }
}

/** A value read back from a journal: a Secret again when it names its variable, else as written. */
export function reviveSecret(v: unknown): unknown {
  const m = typeof v === 'string' ? FROM_ENV.exec(v) : null;
  return m ? Secret.fromEnv(m[1]) : v;
}

export function isSecret(v: unknown): v is Secret {
  return v instanceof Secret;
}

/** Replace every occurrence of the given secrets' values in free text (stderr of a command, say). */
export function scrub(text: string, secrets: readonly Secret[]): string {
  let out = text;
  for (const s of secrets) {
    let v: string;
    try {
      v = s.reveal();
    } catch {
      continue; // a variable not set here cannot be in the text either
    }
    if (v.length >= 3) out = out.split(v).join(REDACTED);
  }
  return out;
}
