import type { TestApp } from './app.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';

/** Registers the tiny base model (real init-model output) as fine-tunable. */
export async function addTinyModel(t: TestApp, id = 'tiny', pricePerMTokMicros = 2_000_000n): Promise<string> {
  await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id, fineTunable: true, pricePerMTokMicros });
  return id;
}

/** Fast settings for the tiny model: a dozen steps, full fine-tuning with a high learning rate. */
export const FAST_HYPERPARAMETERS = { epochs: 2, batchSize: 1, learningRate: 0.003, maxSeqLength: 64, checkpointEvery: 4 };
