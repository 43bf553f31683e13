/** An error meant for the operator: one line that names the problem and the fix. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The connection to the host was lost while a command ran: whether the command finished there is
 * unknown. The runner reconnects, settles what the lost session left running, then rolls back.
 */
export class ConnectionLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionLost';
  }
}

export const isConnectionLost = (e: unknown): e is ConnectionLost => e instanceof ConnectionLost;
