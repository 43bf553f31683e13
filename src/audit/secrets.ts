/**
 * What counts as a secret: by file name, by key name in KEY=value settings (ENV, ARG, LABEL, build
 * args in the history), and by content (key formats that are unambiguous). Precise on purpose: a
 * CA bundle (*.pem of certificates) or library code mentioning `password=None` is not a finding.
 */

/** Content patterns, each unambiguous on its own. */
export const CONTENT_PATTERNS: { name: string; re: RegExp }[] = [
  { name: 'OpenAI-style API key (sk-…)', re: /(?<![A-Za-z0-9_-])sk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{20,}/ },
  { name: 'AWS access key id (AKIA…)', re: /(?<![A-Z0-9])AKIA[0-9A-Z]{16}(?![A-Z0-9])/ },
  // a real key has a base64 body (documentation examples with XXXX do not)
  {
    name: 'private key block',
    re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:\r?\n[^\n]{0,100}){0,3}?\r?\n[A-Za-z0-9+/]{40,}/,
  },
];

/**
 * password=VALUE on a line of its own (not a comment), with a literal value (not empty, not a
 * ${VAR} or <placeholder>). Only in config-like files (see configLike): in code, `password=` is
 * an argument name (`connect(password=password)`), not a secret.
 */
export const PASSWORD_LINE = {
  name: 'password=…',
  re: /^[ \t]*(?:export[ \t]+)?[A-Za-z0-9_.-]*(?:password|passwd|PASSWORD|PASSWD)[ \t]*=[ \t]*(?![ \t]*$|\$|<|"\$|'\$|""|''|~|null\b|None\b)["']?[^\s"'#]{3,}/m,
};
/** The YAML form, in .yml/.yaml files: `password: VALUE`. */
export const PASSWORD_YAML = {
  name: 'password: … (YAML)',
  re: /^[ \t]*[A-Za-z0-9_.-]*(?:password|passwd|PASSWORD|PASSWD):[ \t]+(?!\$|<|"\$|'\$|""|''|~|null\b)["']?[^\s"'#{}]{3,}/m,
};

/** Files whose password= lines are settings: .env files, ini/conf/yaml/toml/properties. */
export function configLike(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return /^\.env(\..+)?$/.test(base) || /\.(env|ini|cfg|conf|cnf|properties|ya?ml|toml)$/.test(base);
}

/** Names that are secrets whatever they hold. */
const SECRET_NAMES = [
  /^\.env$/,
  /^\.env\.(?!example$|sample$|template$|dist$|defaults?$)[^/]+$/,
  /^id_(rsa|dsa|ecdsa|ed25519)$/,
  /^\.git-credentials$/,
  /^\.netrc$/,
  /^\.pgpass$/,
  /^credentials$/,
  /^\.npmrc$/,
  /^\.pypirc$/,
];
/** Names that are secrets only if the content says so (a .pem is often a public certificate). */
const KEY_FILE_EXT = /\.(pem|key|p12|pfx)$/;

export type NameVerdict = 'secret' | 'maybe' | undefined;

/**
 * By name: 'secret' for names that are credentials whatever their content (.env, id_rsa),
 * 'maybe' for key-file extensions that must be confirmed by content (a private key inside).
 */
export function secretFileName(path: string): NameVerdict {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (SECRET_NAMES.some((re) => re.test(base))) {
    // ~/.aws/credentials, not any file called "credentials"; .npmrc only when it holds a token (content)
    if (base === 'credentials') return /(^|\/)\.aws\/credentials$/.test(path) ? 'secret' : undefined;
    if (base === '.npmrc' || base === '.pypirc' || base === '.netrc') return 'maybe';
    return 'secret';
  }
  return KEY_FILE_EXT.test(base) ? 'maybe' : undefined;
}

export interface ContentHit {
  pattern: string;
  line: number;
  excerpt: string;
}

/** First hit of each content pattern, with its line and a redacted excerpt. */
export function scanText(text: string, opts: { configFile?: boolean; yaml?: boolean } = {}): ContentHit[] {
  const hits: ContentHit[] = [];
  const patterns = [
    ...CONTENT_PATTERNS,
    ...(opts.configFile ? [PASSWORD_LINE] : []),
    ...(opts.yaml ? [PASSWORD_YAML] : []),
  ];
  for (const { name, re } of patterns) {
    const m = re.exec(text);
    if (!m) continue;
    const line = text.slice(0, m.index).split('\n').length;
    hits.push({ pattern: name, line, excerpt: redact(m[0]) });
  }
  return hits;
}

/** Tokens in .npmrc / .pypirc / .netrc. */
export const CONFIG_TOKEN = /(_authToken|_auth|_password)\s*=\s*\S+|^\s*password\s*[:=]?\s*\S+|\bpassword\s+\S+/im;

/** Enough of a value to recognise it, never enough to use it. */
export function redact(s: string): string {
  const t = s.trim();
  const eq = t.search(/[=:]/);
  if (eq > 0 && eq < t.length - 1 && /pass/i.test(t.slice(0, eq))) return `${t.slice(0, eq).trim()}=***`;
  if (t.startsWith('-----BEGIN')) return t.split(/\r?\n/)[0];
  return t.length <= 8 ? '***' : `${t.slice(0, Math.min(8, Math.floor(t.length / 3)))}…(${t.length} chars)`;
}

const SECRET_KEY =
  /(^|[_.-])(PASSWORD|PASSWD|SECRET|TOKEN|API[_.-]?KEY|ACCESS[_.-]?KEY|PRIVATE[_.-]?KEY|SECRET[_.-]?KEY|CREDENTIALS?|AUTH[_.-]?KEY)([_.-]|$)/i;

/**
 * A KEY=value setting that holds a secret: a secret-looking key with a literal value (a reference
 * like ${VAR}, a *_FILE path, or an empty value is fine), or any key whose value has a key format.
 * Returns why, or undefined.
 */
export function secretSetting(key: string, value: string | undefined | null): string | undefined {
  const v = (value ?? '').trim();
  const byValue = v ? scanText(v)[0] : undefined;
  if (byValue) return `${key}=${byValue.excerpt} (${byValue.pattern})`;
  if (!v || /_FILE$/i.test(key) || /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(v)) return undefined;
  if (SECRET_KEY.test(key)) return `${key}=${redact(v)} (a secret-named setting with a literal value)`;
  return undefined;
}

/**
 * Known placeholders that are not anyone's secret: Debian's ssl-cert package generates a throwaway
 * self-signed "snakeoil" pair in every image that has it (nginx and postgres pull it in).
 */
export const KNOWN_PLACEHOLDERS = [/^etc\/ssl\/private\/ssl-cert-snakeoil\.key$/];

/** Looks like text: no NUL in the first 8 KiB. */
export function isText(buf: Buffer): boolean {
  return !buf.subarray(0, 8192).includes(0);
}
