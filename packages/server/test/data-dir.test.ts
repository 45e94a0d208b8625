import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadKeys, mkdirDurableSync, ownFile, syncDirSync } from '../src/data-dir.js';

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
});
