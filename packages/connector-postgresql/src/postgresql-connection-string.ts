/** `SSLMode` values, as libpq names them. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** A parsed `Server=…;Database=…;Port=…;UID=…;Password=…` connection string. */
export interface PostgresConnectionSettings {
  server: string;
  database: string;
  /** Default 5432. */
  port: number;
  user: string;
  password: string;
  /** Absent: the driver's default (no TLS). */
  sslMode?: SslMode;
}

export type ParseResult = { ok: true; value: PostgresConnectionSettings } | { ok: false; error: string };

/** Canonical key for each accepted spelling (keys are case-insensitive). */
const KEYS: Record<
  string,
  keyof PostgresConnectionSettings | 'encryptionMethod' | 'validateServerCertificate'
> = {
  server: 'server',
  host: 'server',
  database: 'database',
  port: 'port',
  uid: 'user',
  'user id': 'user',
  user: 'user',
  username: 'user',
  password: 'password',
  pwd: 'password',
  sslmode: 'sslMode',
  // Adobe's documented extras: EncryptionMethod=0 (none) | 1 (TLS); ValidateServerCertificate=0|1.
  encryptionmethod: 'encryptionMethod',
  validateservercertificate: 'validateServerCertificate',
};

const REQUIRED: [keyof PostgresConnectionSettings, string][] = [
  ['server', 'Server'],
  ['database', 'Database'],
  ['user', 'UID'],
  ['password', 'Password'],
];

/**
 * Parses the documented connection string `Server={SERVER};Database={DATABASE};Port={PORT};
 * UID={USERNAME};Password={PASSWORD}`. Keys are case-insensitive; a value may be quoted with `"`
 * or `'` to hold `;` (a doubled quote inside stands for one). Every error names the key, never a
 * value.
 */
export function parseConnectionString(input: string): ParseResult {
  const raw: Record<string, string> = {};
  // Text after a password may be the rest of an unquoted password holding ';': never echo it.
  const echo = (text: string): string | undefined =>
    !('password' in raw) && /^[A-Za-z ]{1,30}$/.test(text) ? `"${text}"` : undefined;
  let i = 0;
  const n = input.length;
  while (i < n) {
    while (i < n && (input[i] === ';' || input[i] === ' ')) i++;
    if (i >= n) break;
    const eq = input.indexOf('=', i);
    const semi = input.indexOf(';', i);
    if (eq === -1 || (semi !== -1 && semi < eq)) {
      const shown = echo(input.slice(i, semi === -1 ? n : semi).trim());
      return {
        ok: false,
        error: shown
          ? `${shown} has no "=value"`
          : 'a part has no "key=value" form (quote a Password that holds ";": Password="a;b")',
      };
    }
    const keyText = input.slice(i, eq).trim();
    const key = keyText.toLowerCase();
    const canonical = KEYS[key];
    if (!canonical) {
      const shown = echo(keyText) ?? 'that is not shown (quote a Password that holds ";": Password="a;b")';
      return {
        ok: false,
        error: `unknown key ${shown}: use Server, Database, Port, UID, Password and optionally SSLMode`,
      };
    }
    i = eq + 1;
    while (i < n && input[i] === ' ') i++;
    let value = '';
    const quote = input[i];
    if (quote === '"' || quote === "'") {
      i++;
      let closed = false;
      while (i < n) {
        if (input[i] === quote) {
          if (input[i + 1] === quote) {
            value += quote;
            i += 2;
            continue;
          }
          closed = true;
          i++;
          break;
        }
        value += input[i];
        i++;
      }
      if (!closed) return { ok: false, error: `the quoted value of ${keyText} is not closed` };
      while (i < n && input[i] === ' ') i++;
      if (i < n && input[i] !== ';')
        return { ok: false, error: `${keyText} has text after its closing quote` };
    } else {
      const end = input.indexOf(';', i);
      value = input.slice(i, end === -1 ? n : end).trim();
      i = end === -1 ? n : end;
    }
    if (canonical in raw) {
      const hint = 'password' in raw ? ' (quote a Password that holds ";": Password="a;b")' : '';
      return { ok: false, error: `${keyText} is given twice${hint}` };
    }
    raw[canonical] = value;
  }
  for (const [field, name] of REQUIRED) {
    if (!(field in raw))
      return {
        ok: false,
        error: `missing ${name}=…: the pattern is Server=…;Database=…;Port=…;UID=…;Password=…`,
      };
    if (raw[field] === '') return { ok: false, error: `${name} is empty` };
  }
  let port = 5432;
  if (raw.port !== undefined) {
    if (!/^\d{1,5}$/.test(raw.port) || Number(raw.port) < 1 || Number(raw.port) > 65535) {
      return { ok: false, error: 'Port must be a number from 1 to 65535' };
    }
    port = Number(raw.port);
  }
  const tls = sslModeOf(raw);
  if (!tls.ok) return tls;
  const sslMode = tls.value;
  return {
    ok: true,
    value: {
      server: raw.server as string,
      database: raw.database as string,
      port,
      user: raw.user as string,
      password: raw.password as string,
      ...(sslMode ? { sslMode } : {}),
    },
  };
}

/**
 * The TLS mode from `SSLMode` (libpq's values) or Adobe's `EncryptionMethod` (0 none, 1 TLS, 6
 * TLS if offered) with `ValidateServerCertificate` (0|1). Every value is checked; giving both
 * spellings, or `ValidateServerCertificate` without `EncryptionMethod=1`, is refused rather than
 * silently resolved.
 */
function sslModeOf(
  raw: Record<string, string>,
): { ok: true; value: SslMode | undefined } | { ok: false; error: string } {
  const { sslMode, encryptionMethod, validateServerCertificate: validate } = raw;
  if (sslMode !== undefined && (encryptionMethod !== undefined || validate !== undefined)) {
    return {
      ok: false,
      error: 'give either SSLMode or EncryptionMethod/ValidateServerCertificate, not both',
    };
  }
  if (sslMode !== undefined) {
    const mode = sslMode.toLowerCase();
    if (!(SSL_MODES as readonly string[]).includes(mode)) {
      return { ok: false, error: `SSLMode must be one of ${SSL_MODES.join(', ')}` };
    }
    return { ok: true, value: mode as SslMode };
  }
  if (encryptionMethod !== undefined && !['0', '1', '6'].includes(encryptionMethod)) {
    return {
      ok: false,
      error: 'EncryptionMethod must be 0 (none), 1 (TLS) or 6 (TLS if the server offers it)',
    };
  }
  if (validate !== undefined && validate !== '0' && validate !== '1') {
    return { ok: false, error: 'ValidateServerCertificate must be 0 or 1' };
  }
  if (validate !== undefined && encryptionMethod !== '1') {
    return { ok: false, error: 'ValidateServerCertificate applies only with EncryptionMethod=1' };
  }
  if (encryptionMethod === undefined) return { ok: true, value: undefined };
  if (encryptionMethod === '0') return { ok: true, value: 'disable' };
  if (encryptionMethod === '6') return { ok: true, value: 'prefer' };
  return { ok: true, value: validate === '0' ? 'require' : 'verify-full' };
}
