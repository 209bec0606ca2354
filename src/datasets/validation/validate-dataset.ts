import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ModelTokenizer } from '../../tokenizer/model-tokenizer.js';
import { DatasetError } from '../dataset-error.js';
import { fanOutRanges } from '../fan-out.js';
import { finishShard, partStemFor, readCachedShard } from '../shards/finish-shard.js';
import { formatBytes } from '../storage.js';
import { detectFormat } from './detect-format.js';
import { mergeRanges } from './merge-ranges.js';
import { sniffEncoding } from './sniff-encoding.js';
import { validateRange } from './validate-range.js';
import type { RangeJob, RangeResult } from './validate-range.js';
import type { ValidateWorkerInput } from './validate-worker.js';
import { DEFAULT_VALIDATION_LIMITS } from './validation-report.js';
import type { ValidationErrorCode, ValidationIssue, ValidationLimits, ValidationReport } from './validation-report.js';

export interface ValidateOptions {
  limits?: Partial<ValidationLimits>;
  /** With a tokenizer, token stats are computed and token limits checked (examples rendered with its chat template). */
  tokenizer?: ModelTokenizer | null;
  /**
   * With a tokenizer: also write the token shard there (from the same pass, no second
   * tokenization) when the dataset turns out valid; `report.shard` is its summary.
   * An existing shard at that path is reused. Use `shardPaths()` for the cache location.
   */
  shardPath?: string;
  /** Recorded in the shard summary. */
  datasetSha256?: string;
  /** Worker threads to use for large files. Default: the machine's available parallelism (max 8). */
  concurrency?: number;
  /** Files smaller than this are validated in the calling thread. Default 8 MB. */
  parallelThreshold?: number;
  signal?: AbortSignal;
}

/**
 * Validates a stored JSONL dataset by streaming it, in memory independent of its size
 * (one read chunk and one line per thread, plus 12 bytes per example for duplicate
 * detection). Large files are cut at line boundaries into one byte range per core,
 * validated in worker threads, and merged in line order, so line numbers are exact.
 * Problems with the file's content are reported, not thrown; a `DatasetError` is
 * thrown only for unusable inputs (a model without a chat template for a chat file).
 */
export async function validateDataset(path: string, options: ValidateOptions = {}): Promise<ValidationReport> {
  const tokenizer = options.tokenizer ?? null;
  const limits: ValidationLimits = {
    ...DEFAULT_VALIDATION_LIMITS,
    maxTokensPerExample: tokenizer?.contextLength ?? null,
    ...options.limits,
  };
  const { size } = await stat(path);
  if (size > limits.maxBytes) {
    return fileReport(size, {
      line: null,
      code: 'file_too_large',
      field: null,
      message: `the file is ${formatBytes(size)}, over the ${formatBytes(limits.maxBytes)} limit`,
    });
  }
  const encoding = await sniffEncoding(path, size);
  if (encoding) return fileReport(size, encoding);
  const detected = await detectFormat(path, size, limits.maxLineBytes);
  const format = detected?.format ?? 'chat';
  if (tokenizer && format !== 'completion' && !tokenizer.hasChatTemplate) {
    throw new DatasetError('tokenizer_invalid', `the model has no chat template, so ${format}-format datasets cannot be used with it`);
  }
  const shardPath = tokenizer && options.shardPath ? options.shardPath : null;
  const cachedShard = shardPath ? await readCachedShard(shardPath) : null;
  const stem = shardPath && !cachedShard ? partStemFor(shardPath) : null;
  if (stem) await mkdir(dirname(stem), { recursive: true });
  return fanOutRanges({
    path,
    size,
    concurrency: options.concurrency,
    parallelThreshold: options.parallelThreshold,
    signal: options.signal,
    partStem: stem,
    job: ({ start, end }, partStem): RangeJob => ({ path, start, end, format, formatLine: detected?.line ?? null, limits, partStem }),
    inline: (job) => validateRange(job, tokenizer),
    worker: {
      entry: new URL('./validate-worker.js', import.meta.url),
      input: (job) => ({ job, modelDir: tokenizer?.modelDir ?? null }) satisfies ValidateWorkerInput,
    },
    finish: finishReport,
  });

  async function finishReport(results: RangeResult[]): Promise<ValidationReport> {
    const report = mergeRanges(results, size, limits, detected?.format ?? null);
    if (shardPath && report.ok && report.stats.tokens) {
      const identity = {
        datasetSha256: options.datasetSha256 ?? null,
        tokenizerSha256: tokenizer!.tokenizerSha256,
        templateSha256: tokenizer!.templateSha256,
      };
      report.shard =
        cachedShard ??
        (await finishShard(
          shardPath,
          results.map((r) => r.part!),
          report.stats.tokens,
          identity,
          { preference: format === 'preference' },
        ));
    }
    return report;
  }
}

function fileReport(bytes: number, error: ValidationIssue<ValidationErrorCode>): ValidationReport {
  return {
    ok: false,
    errors: [error],
    errorCount: 1,
    warnings: [],
    warningCount: 0,
    stats: { bytes, lines: 0, examples: 0, format: null, messagesPerRole: null, tokens: null },
  };
}
