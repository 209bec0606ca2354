import type { TestApp } from './app.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { newId } from '../../src/ids.js';

/** Registers the tiny base model (real init-model output) as fine-tunable. */
export async function addTinyModel(t: TestApp, id = 'tiny', pricePerMTokMicros = 2_000_000n): Promise<string> {
  await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id, fineTunable: true, pricePerMTokMicros });
  return id;
}

/** Fast settings for the tiny model: a dozen steps, full fine-tuning with a high learning rate. */
export const FAST_HYPERPARAMETERS = { epochs: 2, batchSize: 1, learningRate: 0.003, maxSeqLength: 64, checkpointEvery: 4 };

/**
 * A job written straight to the database, with its stored events (`seq` 1, 2, …): for
 * tests of what reads jobs (listings, subscriptions) that need no trainer.
 */
export async function insertJob(
  t: TestApp,
  accountId: string,
  opts: {
    baseModel: string;
    status: string;
    events: Array<{ type: string; step: number; status: string; payload: Record<string, unknown> }>;
  },
): Promise<string> {
  const id = newId('trainingJob');
  const terminal = ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(opts.status);
  await t.app.services.db
    .insertInto('training_jobs')
    .values({
      id,
      account_id: accountId,
      base_model_id: opts.baseModel,
      training_dataset_id: newId('dataset'),
      method: 'LORA',
      hyperparameters: JSON.stringify({}),
      requested: JSON.stringify({}),
      status: opts.status,
      event_seq: opts.events.length,
      queued_at: new Date(),
      ...(terminal ? { finished_at: new Date() } : {}),
    } as never)
    .execute();
  if (opts.events.length) {
    await t.app.services.db
      .insertInto('training_events')
      .values(opts.events.map((e, i) => ({ job_id: id, seq: i + 1, ...e, payload: JSON.stringify(e.payload) })) as never)
      .execute();
  }
  return id;
}
