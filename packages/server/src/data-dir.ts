import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { decodeKey, randomHex } from './crypto.js';

/** Syncs a directory, so that entries created in it (files, directories) survive a crash. */
export function syncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * `mkdir -p` (mode 700) that survives a crash: a new directory's entry is data of its parent, so
 * the parent of every directory created is fsynced, top down. The parent of `dir` is fsynced even
 * when `dir` already existed: whoever made it may not have synced it. Returns the directories it
 * created, outermost first. (The synchronous twin of the streaming log's `mkdirDurable`: keys are
 * loaded synchronously at startup.)
 */
export function mkdirDurableSync(dir: string, sync: (dir: string) => void = syncDirSync): string[] {
  const target = resolve(dir);
  const first = mkdirSync(target, { recursive: true, mode: 0o700 });
  const created: string[] = [];
  if (first !== undefined) {
    const top = resolve(first);
    for (let d = target; ; d = dirname(d)) {
      created.push(d);
      if (d === top || dirname(d) === d) break;
    }
    created.reverse();
  }
  const parents = created.length > 0 ? created.map((d) => dirname(d)) : [dirname(target)];
  for (const parent of parents) sync(parent);
  return created;
}

/**
 * Reads a file the server owns, creating it with `make()` (mode 600) when it does not exist. A new
 * file is written and fsynced under a temporary name, then linked into place (which fails if
 * another process made it first: that one wins) and its directory fsynced, so after a crash the
 * file is either absent or whole, never empty or cut short.
 */
export function ownFile(path: string, make: () => string, sync: (dir: string) => void = syncDirSync): string {
  if (existsSync(path)) return readFileSync(path, 'utf8');
  const value = make();
  const tmp = `${path}.${randomHex(6)}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    const bytes = Buffer.from(value, 'utf8');
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  try {
    linkSync(tmp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readFileSync(path, 'utf8');
  } finally {
    unlinkSync(tmp);
    sync(dirname(path));
  }
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
 * process without a data dir. `INFLOW_SECRET_KEY` replaces the credentials key. The data dir and
 * `keys` are created durably (`mkdirDurableSync`): a crash cannot keep a key file and lose the
 * directory entry that leads to it. `sync` is a test hook.
 */
export function loadKeys(
  dataDir: string | undefined,
  secretKeyText: string | undefined,
  sync: (dir: string) => void = syncDirSync,
): Keys {
  if (!dataDir) {
    return {
      tokenKey: Buffer.from(randomHex(32), 'hex'),
      secretKey: secretKeyText
        ? decodeKey(secretKeyText, 'INFLOW_SECRET_KEY')
        : Buffer.from(randomHex(32), 'hex'),
    };
  }
  mkdirDurableSync(dataDir, sync);
  const dir = join(dataDir, 'keys');
  mkdirDurableSync(dir, sync);
  const tokenKey = decodeKey(
    ownFile(join(dir, 'token.key'), () => randomHex(32), sync),
    'keys/token.key',
  );
  const secretKey = secretKeyText
    ? decodeKey(secretKeyText, 'INFLOW_SECRET_KEY')
    : decodeKey(
        ownFile(join(dir, 'secret.key'), () => randomHex(32), sync),
        'keys/secret.key',
      );
  return { tokenKey, secretKey };
}
