import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeKey, randomHex } from './crypto.js';

/** Reads a file the server owns, creating it with `make()` (mode 600) when it does not exist. */
export function ownFile(path: string, make: () => string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8');
  const value = make();
  writeFileSync(path, value, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return value;
}

export interface Keys {
  /** Signs access tokens. */
  tokenKey: Buffer;
  /** Encrypts credentials at rest. */
  secretKey: Buffer;
}

/**
 * The server's keys: files in `{dataDir}/keys` (mode 600, made on first start), or random per
 * process without a data dir. `INFLOW_SECRET_KEY` replaces the credentials key.
 */
export function loadKeys(dataDir: string | undefined, secretKeyText: string | undefined): Keys {
  if (!dataDir) {
    return {
      tokenKey: Buffer.from(randomHex(32), 'hex'),
      secretKey: secretKeyText
        ? decodeKey(secretKeyText, 'INFLOW_SECRET_KEY')
        : Buffer.from(randomHex(32), 'hex'),
    };
  }
  const dir = join(dataDir, 'keys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tokenKey = decodeKey(
    ownFile(join(dir, 'token.key'), () => randomHex(32)),
    'keys/token.key',
  );
  const secretKey = secretKeyText
    ? decodeKey(secretKeyText, 'INFLOW_SECRET_KEY')
    : decodeKey(
        ownFile(join(dir, 'secret.key'), () => randomHex(32)),
        'keys/secret.key',
      );
  return { tokenKey, secretKey };
}
