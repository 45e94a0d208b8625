import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { decodeKey, randomHex } from './crypto.js';
import { mkdirDurableSync, syncDirSync } from './durable-dirs.js';

/** How many random bytes (hex in the name) tell `ownFile`'s temporary files apart. */
const TEMP_BYTES = 6;

/** The temporary name `ownFile` writes `path` under: `{path}.{12 hex digits}.tmp`. */
const tempPath = (path: string) => `${path}.${randomHex(TEMP_BYTES)}.tmp`;

/**
 * Errors of `link` on file systems without hard links (exFAT and FAT, vboxsf, some SMB and FUSE
 * mounts): the file is copied into place instead.
 */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'ENOSYS']);

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

function fsyncFileSync(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
}

/**
 * Reads a file the server owns, creating it with `make()` (mode 600) when it does not exist. A new
 * file is written and fsynced under a temporary name, then linked into place (which fails if
 * another process made it first: that one wins) and its directory fsynced, so after a crash the
 * file is either absent or whole, never empty or cut short. Where the file system has no hard
 * links, the temporary file is copied into place instead (`COPYFILE_EXCL`: an existing file still
 * wins) and the copy fsynced; a crash during that copy can leave the file cut short. A temporary
 * file removed under us (`removeStaleTemps` of a server starting at the same time) means starting
 * over. `link` is a test hook.
 */
export function ownFile(
  path: string,
  make: () => string,
  sync: (dir: string) => void = syncDirSync,
  link: (existing: string, created: string) => void = linkSync,
): string {
  for (let tries = 1; ; tries++) {
    if (existsSync(path)) return readFileSync(path, 'utf8');
    const value = make();
    const tmp = tempPath(path);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      const bytes = Buffer.from(value, 'utf8');
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      chmodSync(tmp, 0o600);
      try {
        link(tmp, path);
      } catch (error) {
        if (!NO_HARD_LINKS.has(errorCode(error) ?? '')) throw error;
        copyFileSync(tmp, path, constants.COPYFILE_EXCL);
        try {
          fsyncFileSync(path);
        } catch (syncError) {
          // Never leave a key that may be cut short: the next start would refuse it.
          unlinkIfThere(path);
          throw syncError;
        }
      }
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return readFileSync(path, 'utf8');
      if (errorCode(error) === 'ENOENT' && tries < 5 && !existsSync(tmp)) continue;
      throw error;
    } finally {
      unlinkIfThere(tmp);
      sync(dirname(path));
    }
    return value;
  }
}

/**
 * Removes the temporary files `ownFile` left in `dir` for `names` (`{name}.{12 hex digits}.tmp`,
 * nothing else): a crash between linking one into place and unlinking it leaves a copy of the key
 * behind. Returns the names removed.
 */
export function removeStaleTemps(dir: string, names: readonly string[]): string[] {
  const suffix = new RegExp(`^[0-9a-f]{${TEMP_BYTES * 2}}\\.tmp$`);
  const removed = readdirSync(dir).filter((entry) =>
    names.some((name) => entry.startsWith(`${name}.`) && suffix.test(entry.slice(name.length + 1))),
  );
  for (const entry of removed) unlinkIfThere(join(dir, entry));
  return removed;
}

/** The key files in `{dataDir}/keys`. */
const KEY_FILES = ['token.key', 'secret.key'] as const;

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
  mkdirDurableSync(dataDir, sync, { syncExisting: true });
  const dir = join(dataDir, 'keys');
  mkdirDurableSync(dir, sync, { syncExisting: true });
  if (removeStaleTemps(dir, KEY_FILES).length > 0) sync(dir);
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
