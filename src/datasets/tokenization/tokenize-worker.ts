/** Worker entry: tokenizes one byte range into a shard part (see tokenize-to-shard.ts). */
import { serveWorker } from '../worker-pool.js';
import { loadTrainingTokenizer } from '../../tokenizer/model-tokenizer.js';
import { tokenizeRange } from './tokenize-range.js';
import type { TokenizeRangeJob, TokenizeRangeResult } from './tokenize-range.js';

serveWorker<{ job: TokenizeRangeJob; modelDir: string }, TokenizeRangeResult>(async ({ job, modelDir }) =>
  tokenizeRange(job, await loadTrainingTokenizer(modelDir)),
);
