import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Directories that survive a crash. A new directory's entry, like a file created, renamed or
 * removed in a directory, is data of that directory, which a crash may lose unless it is
 * fsynced. One place for the streaming log, the dataset writer and the data dir (which is made
 * synchronously: keys are loaded at startup).
 */

/** Syncs a directory, so that entries created, renamed or removed in it survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `syncDir`, synchronously. */
export function syncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface DurableDirOptions {
  /** The mode of the directories created. Default 0o700. */
  mode?: number;
  /**
   * Sync `dir`'s parent even when `dir` already existed: whoever made it may not have synced it.
   * Default false (nothing created, nothing synced).
   */
  syncExisting?: boolean;
}

/**
 * What `mkdir -p` of `target` made, outermost first, from the top directory it reports
 * (`undefined`: nothing), and the parents to sync for it, top down.
 */
function plan(target: string, first: string | undefined, syncExisting: boolean) {
  const created: string[] = [];
  if (first !== undefined) {
    const top = resolve(first);
    for (let d = target; ; d = dirname(d)) {
      created.push(d);
      if (d === top || dirname(d) === d) break;
    }
    created.reverse();
  }
  const parents = created.length > 0 ? created.map((d) => dirname(d)) : syncExisting ? [dirname(target)] : [];
  return { created, parents };
}

/**
 * `mkdir -p` that survives a crash: the parent of every directory it creates is fsynced, top
 * down. Returns the directories it created, outermost first.
 */
export async function mkdirDurable(
  dir: string,
  sync: (dir: string) => Promise<void> = syncDir,
  options: DurableDirOptions = {},
): Promise<string[]> {
  const target = resolve(dir);
  const first = await mkdir(target, { recursive: true, mode: options.mode ?? 0o700 });
  const { created, parents } = plan(target, first, options.syncExisting ?? false);
  for (const parent of parents) await sync(parent);
  return created;
}

/** `mkdirDurable`, synchronously. */
export function mkdirDurableSync(
  dir: string,
  sync: (dir: string) => void = syncDirSync,
  options: DurableDirOptions = {},
): string[] {
  const target = resolve(dir);
  const first = mkdirSync(target, { recursive: true, mode: options.mode ?? 0o700 });
  const { created, parents } = plan(target, first, options.syncExisting ?? false);
  for (const parent of parents) sync(parent);
  return created;
}
