import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { engines } from '../helpers/db.js';
import { migrationTestDb } from '../helpers/migrations.js';

/**
 * Databases made before jobs could be paused: migration 0009 lets the status take PAUSED
 * and rewrites the checkpoint events they stored with the server's folder path, so an old
 * job's event page names its checkpoints by id too.
 */
describe.each(engines())('migration 0009 on an existing database (%s)', (engine) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('keeps old rows, rewrites checkpoint paths to ids, and accepts PAUSED', async () => {
    const { db, before, latest, migrateTo } = await migrationTestDb(engine, 'mig0009', cleanups);
    expect(await migrateTo(before('0009'))).toBeUndefined();

    await sql`insert into accounts (id, name, webhook_secret) values ('acct_1', 'old', 'whsec_x')`.execute(db);
    await sql`insert into models (id, architecture, parameter_count, context_length, vocab_size, storage_path, tokenizer_sha256)
              values ('tiny', 'llama', 1, 512, 1024, '/srv/models/tiny', 'abc')`.execute(db);
    await sql`insert into training_jobs (id, account_id, base_model_id, training_dataset_id, method, hyperparameters, requested, status)
              values ('ftjob_1', 'acct_1', 'tiny', 'ds_1', 'FULL', '{}', '{}', 'SUCCEEDED')`.execute(db);
    const old = { jobId: 'ftjob_1', step: 12, path: '/srv/tuneloop/jobs/ftjob_1/checkpoints/step-00000012' };
    await sql`insert into training_events (job_id, seq, type, step, status, payload) values
              ('ftjob_1', 1, 'checkpoint', 12, 'RUNNING', ${JSON.stringify(old)}),
              ('ftjob_1', 2, 'step', 12, 'RUNNING', ${JSON.stringify({ jobId: 'ftjob_1', step: 12, loss: 1.5 })})`.execute(db);

    expect(await migrateTo(latest)).toBeUndefined();
    const rows = await sql<{ type: string; payload: Record<string, unknown> }>`
      select type, payload from training_events where job_id = 'ftjob_1' order by seq`.execute(db);
    expect(rows.rows).toEqual([
      { type: 'checkpoint', payload: { jobId: 'ftjob_1', step: 12, checkpointId: 'ckpt-step-12' } },
      { type: 'step', payload: { jobId: 'ftjob_1', step: 12, loss: 1.5 } },
    ]);
    await sql`update training_jobs set status = 'PAUSED' where id = 'ftjob_1'`.execute(db);
    await expect(sql`update training_jobs set status = 'SLEEPING' where id = 'ftjob_1'`.execute(db)).rejects.toThrow(/check/);
  });
});
