/**
 * POSIX sh quoting, in one place. Every remote command goes through here: ssh joins argv into a
 * single string that the remote login shell re-parses, so each word must be quoted for sh.
 */
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shQuote(arg: string): string {
  if (arg.length > 0 && SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty argv');
  return argv.map(shQuote).join(' ');
}
