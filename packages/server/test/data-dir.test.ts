import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadKeys, ownFile, removeStaleTemps } from '../src/data-dir.js';
import { mkdirDurableSync as mkdirDurableSyncOf, syncDirSync } from '../src/durable-dirs.js';

/** The data dir's use: its parent is synced even when it already existed. */
const mkdirDurableSync = (dir: string, sync: (dir: string) => void) =>
  mkdirDurableSyncOf(dir, sync, { syncExisting: true });

let root: string;
let synced: string[];
const sync = (dir: string) => {
  synced.push(dir);
  syncDirSync(dir);
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'inflow-data-dir-'));
  synced = [];
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;

describe('the data dir', () => {
  it('creates a nested missing path, fsyncing the parent of each directory it made, outermost first', () => {
    const dir = join(root, 'a', 'b', 'c');
    const created = mkdirDurableSync(dir, sync);
    expect(created).toEqual([join(root, 'a'), join(root, 'a', 'b'), dir]);
    expect(synced).toEqual([root, join(root, 'a'), join(root, 'a', 'b')]);
    for (const d of created) {
      expect(statSync(d).isDirectory()).toBe(true);
      expect(mode(d)).toBe(0o700);
    }
  });

  it('opening an existing directory changes nothing in it (its parent is synced, in case its maker did not)', () => {
    const dir = join(root, 'data');
    mkdirSync(dir, { mode: 0o750 });
    writeFileSync(join(dir, 'kept'), 'x');
    const before = { entries: readdirSync(dir), mtime: statSync(dir).mtimeMs, mode: mode(dir) };
    expect(mkdirDurableSync(dir, sync)).toEqual([]);
    expect({ entries: readdirSync(dir), mtime: statSync(dir).mtimeMs, mode: mode(dir) }).toEqual(before);
    expect(synced).toEqual([root]);
  });

  it('makes keys in a missing data dir durably, and reads the same keys back on the next start', () => {
    const dataDir = join(root, 'srv', 'inflow');
    const first = loadKeys(dataDir, undefined, sync);
    const keys = join(dataDir, 'keys');
    // Every new directory's parent, then the keys' directory once per key file linked into it.
    expect(synced).toEqual([root, join(root, 'srv'), dataDir, keys, keys]);
    expect(readdirSync(keys).sort()).toEqual(['secret.key', 'token.key']);
    expect(mode(keys)).toBe(0o700);
    expect(mode(join(keys, 'secret.key'))).toBe(0o600);
    expect(readFileSync(join(keys, 'secret.key'), 'utf8')).toBe(first.secretKey.toString('hex'));

    synced = [];
    const again = loadKeys(dataDir, undefined, sync);
    expect(again.secretKey.equals(first.secretKey)).toBe(true);
    expect(again.tokenKey.equals(first.tokenKey)).toBe(true);
    expect(readdirSync(keys).sort()).toEqual(['secret.key', 'token.key']);
    expect(synced).toEqual([join(root, 'srv'), dataDir]);
  });

  it('keeps the file another process created first, and leaves no temporary file behind', () => {
    const path = join(root, 'token.key');
    const value = ownFile(
      path,
      () => {
        writeFileSync(path, 'theirs', { mode: 0o600 });
        return 'mine';
      },
      sync,
    );
    expect(value).toBe('theirs');
    expect(readFileSync(path, 'utf8')).toBe('theirs');
    expect(readdirSync(root)).toEqual(['token.key']);
    expect(ownFile(path, () => 'never')).toBe('theirs');
  });

  it('copies the file into place where the file system has no hard links (link fails with EPERM)', () => {
    const path = join(root, 'secret.key');
    const linked: string[] = [];
    const noLinks = (existing: string) => {
      linked.push(existing);
      throw Object.assign(new Error('operation not permitted'), { code: 'EPERM' });
    };
    expect(ownFile(path, () => 'mine', sync, noLinks)).toBe('mine');
    expect(linked).toHaveLength(1);
    expect(readFileSync(path, 'utf8')).toBe('mine');
    expect(mode(path)).toBe(0o600);
    expect(readdirSync(root)).toEqual(['secret.key']);
    expect(synced).toEqual([root]);
    expect(ownFile(path, () => 'never', sync, noLinks)).toBe('mine');
    expect(linked).toHaveLength(1);
  });

  it('without hard links still keeps the file another process made first; other link errors still fail', () => {
    const path = join(root, 'token.key');
    const theyWin = () => {
      writeFileSync(path, 'theirs', { mode: 0o600 });
      throw Object.assign(new Error('operation not supported'), { code: 'ENOTSUP' });
    };
    expect(ownFile(path, () => 'mine', sync, theyWin)).toBe('theirs');
    expect(readFileSync(path, 'utf8')).toBe('theirs');
    expect(readdirSync(root)).toEqual(['token.key']);

    const other = join(root, 'secret.key');
    const denied = () => {
      throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
    };
    expect(() => ownFile(other, () => 'mine', sync, denied)).toThrow('permission denied');
    expect(readdirSync(root)).toEqual(['token.key']);
  });

  it('starts over when its temporary file is removed under it (a server starting at the same time cleans keys/)', () => {
    const path = join(root, 'token.key');
    let calls = 0;
    const raced = (existing: string, created: string) => {
      if (++calls === 1) unlinkSync(existing);
      linkSync(existing, created);
    };
    let made = 0;
    expect(ownFile(path, () => `key-${++made}`, sync, raced)).toBe('key-2');
    expect(readFileSync(path, 'utf8')).toBe('key-2');
    expect(readdirSync(root)).toEqual(['token.key']);
  });

  it('removes at startup only the temporary key files it makes itself, left by a crash before their unlink', () => {
    const dataDir = join(root, 'data');
    const keys = join(dataDir, 'keys');
    mkdirSync(keys, { recursive: true });
    // The exact temporary names ownFile uses, kept as a crash between link and unlink would keep them.
    const leftovers: string[] = [];
    for (const name of ['token.key', 'secret.key']) {
      ownFile(
        join(root, name),
        () => 'old',
        sync,
        (existing, created) => {
          leftovers.push(basename(existing));
          linkSync(existing, created);
        },
      );
    }
    expect(leftovers).toEqual([
      expect.stringMatching(/^token\.key\.[0-9a-f]{12}\.tmp$/),
      expect.stringMatching(/^secret\.key\.[0-9a-f]{12}\.tmp$/),
    ]);
    for (const name of leftovers) writeFileSync(join(keys, name), 'a key', { mode: 0o600 });
    const others = [
      'token.key.tmp',
      'token.key.0123456789AB.tmp',
      'token.key.0123456789a.tmp',
      'token.key.0123456789abc.tmp',
      'token.key.0123456789ab.tmp.bak',
      'other.key.0123456789ab.tmp',
      'xtoken.key.0123456789ab.tmp',
      'notes.txt',
    ];
    for (const name of others) writeFileSync(join(keys, name), 'not ours');
    synced = [];
    loadKeys(dataDir, undefined, sync);
    expect(readdirSync(keys).sort()).toEqual([...others, 'secret.key', 'token.key'].sort());
    // The removals are synced with the keys' folder, before the key files are linked into it.
    expect(synced).toEqual([root, dataDir, keys, keys, keys]);
    expect(removeStaleTemps(keys, ['token.key', 'secret.key'])).toEqual([]);
  });
});
