import pg from 'pg';
import { randomBytes } from 'node:crypto';

export type Engine = 'pglite' | 'postgres';

/** The PostgreSQL server tests use: TEST_DATABASE_URL, else the machine's local server. */
export const SERVER_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Engines a suite runs on: PGlite always; the PostgreSQL server too when
 * TEST_DATABASE_URL is set (CI sets it) or TUNELOOP_TEST_SERVER=1.
 */
export function engines(): Engine[] {
  return process.env.TEST_DATABASE_URL || process.env.TUNELOOP_TEST_SERVER === '1' ? ['pglite', 'postgres'] : ['pglite'];
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates an empty database on the server for one test file; `drop` removes it. */
export async function createTestDatabase(label = 'test'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tl_${label
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()
    .slice(0, 20)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(SERVER_URL, name),
    async drop() {
      const c = new pg.Client({ connectionString: SERVER_URL });
      await c.connect();
      try {
        await c.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
