/**
 * KEY="value" lines that Docker Compose reads back literally (its env_file and --env-file parser):
 * inside double quotes, a backslash, a double quote, `$` and line breaks are escaped, so nothing is
 * interpolated, split at `#` or cut at a newline. Any character but NUL survives (checked byte for
 * byte against a real container in test/integration/real-hosts.test.ts).
 */
export function dotenvQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a value for an env file cannot hold a NUL byte');
  const escaped = value.replace(
    /[\\"$\n\r]/g,
    (ch) => ({ '\\': '\\\\', '"': '\\"', $: '\\$', '\n': '\\n', '\r': '\\r' })[ch]!,
  );
  return `"${escaped}"`;
}

export function dotenvLine(key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
    throw new Error(`env variable name ${JSON.stringify(key)} is not a shell name`);
  return `${key}=${dotenvQuote(value)}\n`;
}
