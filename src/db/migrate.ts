import { Migrator } from 'kysely';
import type { Kysely, MigrationProvider } from 'kysely';
import { migrations } from '../../migrations/index.js';

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * Applies every pending migration. Kysely's PostgreSQL adapter takes a transaction-scoped
 * advisory lock around the run, so processes that start together apply each migration once.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations run before (and regardless of) the typed schema
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'tuneloop_migrations',
    migrationLockTableName: 'tuneloop_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${message}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when every known migration has been applied (for /readyz). */
// biome-ignore lint/suspicious/noExplicitAny: migrations run before (and regardless of) the typed schema
export async function migrationsApplied(db: Kysely<any>): Promise<boolean> {
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'tuneloop_migrations',
    migrationLockTableName: 'tuneloop_migrations_lock',
  });
  const list = await migrator.getMigrations();
  return list.every((m) => m.executedAt !== undefined);
}
