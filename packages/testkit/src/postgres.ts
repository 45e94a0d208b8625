// SQL against the test PostgreSQL that the int tier's global setup provides (`inject('postgres')`).
import pg from 'pg';
import type { TestPostgres } from './services.js';

/** Runs SQL as the test role (the owner of the run's database), one short-lived connection a call. */
export function sqlAs(server: TestPostgres): (text: string, values?: unknown[]) => Promise<pg.QueryResult> {
  return async (text, values = []) => {
    const client = new pg.Client({
      host: server.host,
      port: server.port,
      database: server.database,
      user: server.user,
      password: server.password,
    });
    await client.connect();
    try {
      return await client.query(text, values);
    } finally {
      await client.end();
    }
  };
}
