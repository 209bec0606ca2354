import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import { PGlite } from '@electric-sql/pglite';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.js';
import { createTestDatabase, engines } from '../helpers/db.js';

/**
 * Databases with a tiny model registered before the training defaults carried a LoRA rank
 * and target modules: migration 0018 gives a model that stored exactly the old tiny
 * defaults the new ones (docs/training.md, "How auto is decided"), and keeps any other
 * value an operator chose.
 */
describe.each(engines())('migration 0018 on an existing database (%s)', (engine) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  // A database part-way through its migrations has no typed schema.
  async function open(): Promise<Kysely<any>> {
    if (engine === 'postgres') {
      const database = await createTestDatabase('mig0018');
      const db = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url }) }) });
      cleanups.push(database.drop, () => db.destroy());
      return db;
    }
    const db = new Kysely({ dialect: new PGliteDialect(new PGlite()) });
    cleanups.push(() => db.destroy());
    return db;
  }

  it('updates the old tiny defaults and nothing else', async () => {
    const db = await open();
    const names = Object.keys(migrations).sort();
    const migrator = (upTo: string) =>
      new Migrator({
        db,
        provider: { getMigrations: async () => Object.fromEntries(names.filter((n) => n <= upTo).map((n) => [n, migrations[n]!])) },
        migrationTableName: 'tuneloop_migrations',
        migrationLockTableName: 'tuneloop_migrations_lock',
      });
    expect((await migrator(names.filter((n) => n < '0018').at(-1)!).migrateToLatest()).error).toBeUndefined();

    const oldTiny = { learningRate: { LORA: 0.003, FULL: 0.002 }, targetExamples: 4000, minEpochs: 10, maxEpochs: 40 };
    const chosen = { ...oldTiny, maxEpochs: 30 };
    const model = (id: string, defaults: unknown) =>
      sql`insert into models (id, architecture, parameter_count, context_length, vocab_size, storage_path, tokenizer_sha256, training_defaults)
          values (${id}, 'llama', 1, 512, 1024, ${`/srv/models/${id}`}, 'abc', ${defaults === null ? null : JSON.stringify(defaults)}::jsonb)`.execute(
        db,
      );
    await model('tiny-demo', oldTiny);
    await model('tiny-tuned', chosen);
    await model('imported', null);

    expect((await migrator(names.at(-1)!).migrateToLatest()).error).toBeUndefined();
    const rows = await sql<{ id: string; training_defaults: unknown }>`select id, training_defaults from models order by id`.execute(db);
    expect(rows.rows).toEqual([
      { id: 'imported', training_defaults: null },
      {
        id: 'tiny-demo',
        training_defaults: { ...oldTiny, learningRate: { LORA: 0.001, FULL: 0.002 }, loraRank: 32, loraTargetModules: ['all-linear'] },
      },
      { id: 'tiny-tuned', training_defaults: chosen },
    ]);
  });
});
