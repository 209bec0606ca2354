/** Worker entry: validates one byte range (see validate-dataset.ts). */
import { loadTrainingTokenizer } from '../../tokenizer/model-tokenizer.js';
import { serveWorker } from '../worker-pool.js';
import { validateRange } from './validate-range.js';
import type { RangeJob, RangeResult } from './validate-range.js';

export interface ValidateWorkerInput {
  job: RangeJob;
  /** The tokenizer is reloaded from its folder: loaded objects cannot cross threads. */
  modelDir: string | null;
}

serveWorker<ValidateWorkerInput, RangeResult>(async ({ job, modelDir }) => {
  const tokenizer = modelDir === null ? null : await loadTrainingTokenizer(modelDir);
  return validateRange(job, tokenizer);
});
