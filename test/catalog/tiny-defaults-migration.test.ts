import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { engines } from '../helpers/db.js';
import { migrationTestDb } from '../helpers/migrations.js';

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

  it('updates the old tiny defaults and nothing else', async () => {
    const { db, before, latest, migrateTo } = await migrationTestDb(engine, 'mig0018', cleanups);
    expect(await migrateTo(before('0018'))).toBeUndefined();

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

    expect(await migrateTo(latest)).toBeUndefined();
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
