import { describe, expect, it } from 'vitest';
import { configLike, redact, scanText, secretFileName, secretSetting } from './secrets.ts';

describe('secret patterns', () => {
  it('finds key formats anywhere, with the line and a redacted excerpt', () => {
    const hits = scanText('a=1\nOPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz012345\n');
    expect(hits).toEqual([{ pattern: 'OpenAI-style API key (sk-…)', line: 2, excerpt: 'sk-proj-…(40 chars)' }]);
    expect(scanText('aws AKIAIOSFODNN7EXAMPL3 x')[0].pattern).toMatch(/AKIA/);
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${'A'.repeat(64)}\n-----END RSA PRIVATE KEY-----\n`;
    expect(scanText(pem)[0]).toMatchObject({
      pattern: 'private key block',
      excerpt: '-----BEGIN RSA PRIVATE KEY-----',
    });
  });

  it('is precise: words containing sk-, documentation key stubs, code arguments are not secrets', () => {
    expect(scanText('task-runner-for-everything-and-more-stuff')).toEqual([]);
    expect(scanText('key: "-----BEGIN PRIVATE KEY-----\\nXXXX\\nXXXX\\n-----END PRIVATE KEY-----"')).toEqual([]);
    expect(scanText('conn = connect(password=password, user=user)')).toEqual([]); // not a config file: no password rule
    expect(scanText('AKIAIOSFODNN7EXAMPLEXTRA')).toEqual([]); // longer than an access key id
  });

  it('password= only in config-like files, not in comments, not placeholders', () => {
    expect(scanText('DB_PASSWORD=hunter2xx\n', { configFile: true })[0]).toMatchObject({
      pattern: 'password=…',
      excerpt: 'DB_PASSWORD=***',
    });
    expect(scanText('# input_password = secret\n', { configFile: true })).toEqual([]);
    expect(scanText('PASSWORD=\nPASSWORD=${DB_PASS}\nPASSWORD=<your password>\n', { configFile: true })).toEqual([]);
    expect(scanText('passwd:         files\n', { configFile: true })).toEqual([]); // nsswitch.conf
    expect(scanText('db:\n  password: s3cr3tpw\n', { yaml: true })[0].pattern).toMatch(/YAML/);
    expect(configLike('app/.env')).toBe(true);
    expect(configLike('etc/app/settings.ini')).toBe(true);
    expect(configLike('usr/lib/python3/redis/connection.py')).toBe(false);
  });

  it('file names: .env and ssh keys always, key extensions only with a private key inside', () => {
    expect(secretFileName('app/.env')).toBe('secret');
    expect(secretFileName('app/.env.production')).toBe('secret');
    expect(secretFileName('app/.env.example')).toBeUndefined();
    expect(secretFileName('root/.ssh/id_rsa')).toBe('secret');
    expect(secretFileName('etc/ssl/certs/ca.pem')).toBe('maybe');
    expect(secretFileName('srv/tls/server.key')).toBe('maybe');
    expect(secretFileName('root/.aws/credentials')).toBe('secret');
    expect(secretFileName('usr/share/doc/credentials')).toBeUndefined();
    expect(secretFileName('app/main.py')).toBeUndefined();
  });

  it('settings: secret-named keys with literal values, or any key holding a key format', () => {
    expect(secretSetting('OPENAI_API_KEY', 'sk-proj-abcdefghijklmnopqrstuvwxyz')).toMatch(/OPENAI_API_KEY=sk-proj-…/);
    expect(secretSetting('DB_PASSWORD', 'hunter2')).toMatch(/DB_PASSWORD=\*\*\*|secret-named/);
    expect(secretSetting('GITHUB_TOKEN', 'ghp_abc')).toMatch(/secret-named/);
    expect(secretSetting('NOTES', 'AKIAIOSFODNN7EXAMPLE')).toMatch(/AKIA/);
    expect(secretSetting('POSTGRES_PASSWORD_FILE', '/run/secrets/pg')).toBeUndefined();
    expect(secretSetting('API_KEY', '${API_KEY}')).toBeUndefined();
    expect(secretSetting('API_KEY', '')).toBeUndefined();
    expect(secretSetting('PWD', '/app')).toBeUndefined();
    expect(secretSetting('KEYBOARD', 'us')).toBeUndefined();
    expect(secretSetting('PATH', '/usr/bin')).toBeUndefined();
  });

  it('redacts to a recognisable prefix, never the value', () => {
    expect(redact('sk-proj-abcdefghijklmnopqrstuvwxyz')).toBe('sk-proj-…(34 chars)');
    expect(redact('short')).toBe('***');
  });
});
