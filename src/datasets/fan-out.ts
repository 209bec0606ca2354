import { availableParallelism } from 'node:os';
import { ShardPartWriter } from './shards/shard-writer.js';
import { splitAtNewlines } from './line-scanner.js';
import { runInWorker } from './worker-pool.js';

export interface FanOutOptions<J, R, T> {
  /** The JSONL file and its size. */
  path: string;
  size: number;
  /** Worker threads for large files. Default: available parallelism (max 8), ranges of at least 1 MB. */
  concurrency?: number;
  /** Files smaller than this are processed in the calling thread. Default 8 MB. */
  parallelThreshold?: number;
  signal?: AbortSignal;
  /**
   * Shard part files of range `i` are `<partStem>.<i>.{tokens,mask,lengths}`; they are
   * removed when the fan-out ends, whatever happened (the caller has assembled them by then).
   */
  partStem?: string | null;
  /** The job of one byte range (`partStem` is that range's part stem, or null). */
  job(range: { start: number; end: number }, partStem: string | null): J;
  /** Runs a job in this thread. */
  inline(job: J): Promise<R>;
  /** The worker module (it calls `serveWorker`) and what it is sent for a job. */
  worker: { entry: URL; input(job: J): unknown };
  /** Combines the ranges' results, in file order, while their part files still exist. */
  finish(results: R[]): Promise<T> | T;
}

/**
 * The one way a dataset file is processed in parallel (validation and tokenization alike):
 * cut at line boundaries into one byte range per core, run each range in a worker thread
 * (or inline for small files), and return the results in file order, so line numbers stay
 * exact when they are merged (`finish`). All ranges settle before the first failure is
 * thrown, so no worker outlives the call, and part files are removed whatever happened.
 */
export async function fanOutRanges<J, R, T>(options: FanOutOptions<J, R, T>): Promise<T> {
  const { path, size, signal, partStem = null } = options;
  // Without an explicit concurrency, ranges are at least 1 MB: smaller ones are not worth a thread.
  const threads = Math.max(1, options.concurrency ?? Math.min(availableParallelism(), 8, Math.ceil(size / (1 << 20))));
  const inline = size < (options.parallelThreshold ?? 8 << 20) || threads === 1;
  const ranges = inline ? [{ start: 0, end: size }] : await splitAtNewlines(path, size, threads);
  const stems = ranges.map((_, i) => (partStem === null ? null : `${partStem}.${i}`));
  try {
    const settled = await Promise.allSettled(
      ranges.map((range, i) => {
        const job = options.job(range, stems[i]!);
        return inline ? options.inline(job) : runInWorker<R>(options.worker.entry, options.worker.input(job), signal);
      }),
    );
    const results: R[] = [];
    for (const s of settled) {
      if (s.status === 'rejected') throw s.reason;
      results.push(s.value);
    }
    return await options.finish(results);
  } finally {
    for (const stem of stems) {
      if (stem !== null) ShardPartWriter.remove({ tokensPath: `${stem}.tokens`, maskPath: `${stem}.mask`, lengthsPath: `${stem}.lengths` });
    }
  }
}
