import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  scryptSync,
  timingSafeEqual,
} from 'node:crypto';

const ENC_PREFIX = 'enc:v1:';

/**
 * AES-256-GCM for credentials at rest. A ciphertext is a string (`enc:v1:` + base64url of iv,
 * tag and data), so it sits in the stored document where the plaintext was.
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the secret key must be 32 bytes');
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ENC_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64url');
  }

  decrypt(value: string): string {
    if (!SecretBox.isEncrypted(value)) return value;
    const raw = Buffer.from(value.slice(ENC_PREFIX.length), 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  static isEncrypted(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(ENC_PREFIX);
  }
}

/** Decodes `INFLOW_SECRET_KEY`: 64 hex characters or base64 of 32 bytes. */
export function decodeKey(text: string, name: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new Error(`${name} must be 32 bytes, as 64 hex characters or base64`);
  return key;
}

export interface TokenClaims {
  /** The API client (`x-api-key`) the token was issued to. */
  client: string;
  /** The org the token acts for. */
  org: string;
  /** Issued at, epoch seconds. */
  iat: number;
  /** Expires at, epoch seconds. */
  exp: number;
  jti: string;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A signed access token (a JWT, HS256, with the key kept in the data dir). */
export function signToken(key: Buffer, claims: TokenClaims): string {
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...claims, iss: 'inflow', type: 'access_token' })}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

/** The claims of a valid, unexpired token; undefined for anything else. */
export function verifyToken(key: Buffer, token: string, nowSeconds: number): TokenClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [header, payload, signature] = parts as [string, string, string];
  const expected = createHmac('sha256', key).update(`${header}.${payload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
    if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds) return undefined;
    if (typeof claims.client !== 'string' || typeof claims.org !== 'string') return undefined;
    return claims;
  } catch {
    return undefined;
  }
}

/** A salted scrypt hash of a client secret. */
export function hashSecret(secret: string): string {
  const salt = randomBytes(16);
  return `scrypt:${salt.toString('base64url')}:${scryptSync(secret, salt, 32).toString('base64url')}`;
}

export function verifySecret(secret: string, stored: string): boolean {
  const [scheme, salt, hash] = stored.split(':');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = scryptSync(secret, Buffer.from(salt, 'base64url'), expected.length);
  return timingSafeEqual(actual, expected);
}

/** Random lower-case hex of `bytes` bytes. */
export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** An etag in the real service's shape (`1700d77b-0000-0200-0000-5e3b41a10000`), unquoted. */
export function newEtag(now: number): string {
  return `${randomHex(4)}-0000-0200-0000-${Math.floor(now / 1000)
    .toString(16)
    .padStart(8, '0')}0000`;
}
