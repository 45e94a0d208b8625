import { afterAll, beforeAll } from 'vitest';
import { type Db, openDb } from '../src/store/db.js';
import { ResourceStore } from '../src/store/resources.js';

/**
 * An in-memory database and its resource store for the tests of the calling file (or describe
 * block): opened before them, closed after. Its fields are set once the tests start.
 */
export function memoryStore(): { db: Db; store: ResourceStore } {
  const opened = {} as { db: Db; store: ResourceStore };
  beforeAll(async () => {
    opened.db = await openDb(undefined);
    opened.store = new ResourceStore(opened.db);
  });
  afterAll(async () => {
    await opened.db?.close();
  });
  return opened;
}
