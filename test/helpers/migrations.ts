import { Kysely, Migrator, PostgresDialect } from 'kysely';
import { PGlite } from '@electric-sql/pglite';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { migrations } from '../../migrations/index.js';
import { createTestDatabase } from './db.js';
import type { Engine } from './db.js';

/**
 * An empty database of `engine` for a migration test, and a migrator that runs the
 * migrations up to a name — so a test can write rows the way an older version did, then
 * migrate the rest. `cleanups` collects what to drop afterwards (in reverse order).
 * A database part-way through its migrations has no typed schema, hence `Kysely<any>`.
 */
export async function migrationTestDb(engine: Engine, name: string, cleanups: Array<() => Promise<void>>) {
  let db: Kysely<any>;
  if (engine === 'postgres') {
    const database = await createTestDatabase(name);
    db = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url }) }) });
    cleanups.push(database.drop, () => db.destroy());
  } else {
    db = new Kysely({ dialect: new PGliteDialect(new PGlite()) });
    cleanups.push(() => db.destroy());
  }
  const names = Object.keys(migrations).sort();
  /** Runs every migration up to `upTo` (inclusive); returns its error, if any. */
  const migrateTo = async (upTo: string) => {
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => Object.fromEntries(names.filter((n) => n <= upTo).map((n) => [n, migrations[n]!])) },
      migrationTableName: 'tuneloop_migrations',
      migrationLockTableName: 'tuneloop_migrations_lock',
    });
    return (await migrator.migrateToLatest()).error;
  };
  return {
    db,
    /** The last migration before `prefix` (e.g. '0018'). */
    before: (prefix: string) => names.filter((n) => n < prefix).at(-1)!,
    latest: names.at(-1)!,
    migrateTo,
  };
}
