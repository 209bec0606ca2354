import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ModelTokenizer } from '../../tokenizer/model-tokenizer.js';
import { sanitizeText } from '../../text/sanitize-text.js';
import { DatasetError } from '../dataset-error.js';
import { fanOutRanges } from '../fan-out.js';
import { finishShard, mergeLengths, partStemFor, readCachedShard } from '../shards/finish-shard.js';
import { shardPaths } from '../shards/shard-cache.js';
import type { ShardSummary } from '../shards/shard-summary.js';
import { detectFormat } from '../validation/detect-format.js';
import { tokenizeRange } from './tokenize-range.js';
import type { TokenizeRangeJob, TokenizeRangeResult } from './tokenize-range.js';

export interface TokenizeOptions {
  /** Recorded in the summary. */
  datasetSha256?: string;
  /** Worker threads for large files. Default: available parallelism (max 8). */
  concurrency?: number;
  /** Files smaller than this are tokenized in the calling thread. Default 8 MB. */
  parallelThreshold?: number;
  signal?: AbortSignal;
}

/**
 * Tokenizes a validated dataset with a model's tokenizer and chat template into a token
 * shard at `shardPath` (trainer/FORMAT.md) and its summary beside it (`.json`). If both
 * exist already, the stored summary is returned (`cached: true`) — shards are immutable
 * and keyed by content (see `shardPaths`). Large files are cut at line boundaries and
 * tokenized by one worker per core into parts that are concatenated in order.
 * A line that is not a valid example throws `dataset_invalid` naming the line.
 */
export async function tokenizeToShard(
  datasetPath: string,
  tokenizer: ModelTokenizer,
  shardPath: string,
  options: TokenizeOptions = {},
): Promise<ShardSummary & { cached: boolean }> {
  const cached = await readCachedShard(shardPath);
  if (cached) return { ...cached, cached: true };

  const { size } = await stat(datasetPath);
  const detected = await detectFormat(datasetPath, size, 1 << 30);
  if (!detected) throw new DatasetError('dataset_invalid', 'the dataset holds no examples');
  if (detected.format !== 'completion' && !tokenizer.hasChatTemplate) {
    throw new DatasetError(
      'tokenizer_invalid',
      `the model has no chat template, so ${detected.format}-format datasets cannot be used with it`,
    );
  }
  await mkdir(dirname(shardPath), { recursive: true });
  return fanOutRanges({
    path: datasetPath,
    size,
    concurrency: options.concurrency,
    parallelThreshold: options.parallelThreshold,
    signal: options.signal,
    partStem: partStemFor(shardPath),
    job: ({ start, end }, partStem): TokenizeRangeJob => ({ datasetPath, start, end, format: detected.format, partStem: partStem! }),
    inline: (job) => tokenizeRange(job, tokenizer),
    worker: { entry: new URL('./tokenize-worker.js', import.meta.url), input: (job) => ({ job, modelDir: tokenizer.modelDir }) },
    finish: finishTokenization,
  });

  async function finishTokenization(results: TokenizeRangeResult[]): Promise<ShardSummary & { cached: boolean }> {
    let offset = 0;
    for (const r of results) {
      if (r.failure)
        throw new DatasetError(
          'dataset_invalid',
          `line ${offset + r.failure.line} is not a valid example: ${sanitizeText(r.failure.message, 500)}`,
          {
            line: offset + r.failure.line,
          },
        );
      offset += r.lines;
    }
    if (results.every((r) => r.part.examples === 0)) throw new DatasetError('dataset_invalid', 'the dataset holds no examples');
    const summary = await finishShard(
      shardPath,
      results.map((r) => r.part),
      {
        trainable: results.reduce((n, r) => n + r.trainable, 0),
        max: Math.max(...results.map((r) => r.max)),
        lengths: mergeLengths(results.map((r) => r.lengths)),
      },
      {
        datasetSha256: options.datasetSha256 ?? null,
        tokenizerSha256: tokenizer.tokenizerSha256,
        templateSha256: tokenizer.templateSha256,
      },
      { preference: detected!.format === 'preference' },
    );
    return { ...summary, cached: false };
  }
}

/** `tokenizeToShard` at the cache location of this dataset × tokenizer (see `shardPaths`). */
export async function ensureShard(input: {
  dataDir: string;
  datasetSha256: string;
  datasetPath: string;
  tokenizer: ModelTokenizer;
  signal?: AbortSignal;
}): Promise<ShardSummary & { cached: boolean; shardPath: string }> {
  const { shard } = shardPaths(input.dataDir, {
    datasetSha256: input.datasetSha256,
    tokenizerSha256: input.tokenizer.tokenizerSha256,
    templateSha256: input.tokenizer.templateSha256,
  });
  const summary = await tokenizeToShard(input.datasetPath, input.tokenizer, shard, {
    datasetSha256: input.datasetSha256,
    signal: input.signal,
  });
  return { ...summary, shardPath: shard };
}
