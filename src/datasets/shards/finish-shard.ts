import { randomBytes } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { assembleShard } from './shard-writer.js';
import type { ShardPart } from './shard-writer.js';
import type { LengthHistogram } from './shard-summary.js';
import { SHARD_FORMAT_VERSION } from './shard-summary.js';
import type { ShardSummary } from './shard-summary.js';

/** Where a shard's summary lives: `<name>.json` beside `<name>.tlshard`. */
export function summaryPathOf(shardPath: string): string {
  return `${shardPath.replace(/\.tlshard$/, '')}.json`;
}

/** The stored summary when the shard exists (shards are immutable), else null. */
export async function readCachedShard(shardPath: string): Promise<ShardSummary | null> {
  try {
    await stat(shardPath);
    return JSON.parse(await readFile(summaryPathOf(shardPath), 'utf8')) as ShardSummary;
  } catch {
    return null;
  }
}

/** Temp-file stem for a shard's parts, in the shard's folder (same filesystem as the rename). */
export function partStemFor(shardPath: string): string {
  return join(dirname(shardPath), `.${basename(shardPath)}.${randomBytes(6).toString('hex')}`);
}

/**
 * Writes the summary, then assembles `parts` into the shard (a preference shard: flags bit 0). The summary goes in
 * first so that a shard that exists always has its summary.
 */
export async function finishShard(
  shardPath: string,
  parts: ShardPart[],
  stats: { trainable: number; max: number; lengths: LengthHistogram },
  identity: { datasetSha256: string | null; tokenizerSha256: string; templateSha256: string },
  opts: { preference: boolean } = { preference: false },
): Promise<ShardSummary> {
  const examples = parts.reduce((n, p) => n + p.examples, 0);
  const totalTokens = parts.reduce((n, p) => n + p.tokens, 0);
  const summary: ShardSummary = {
    formatVersion: SHARD_FORMAT_VERSION,
    examples,
    totalTokens,
    trainableTokens: stats.trainable,
    maxTokens: stats.max,
    meanTokens: examples > 0 ? totalTokens / examples : 0,
    lengths: stats.lengths,
    shardBytes: 64 + align8(totalTokens * 4) + align8(totalTokens) + (examples + 1) * 8,
    ...(opts.preference ? { preference: true } : {}),
    ...identity,
  };
  const temp = `${partStemFor(shardPath)}.json`;
  await writeFile(temp, JSON.stringify(summary));
  await rename(temp, summaryPathOf(shardPath));
  const bytes = assembleShard(shardPath, parts, opts);
  if (bytes !== summary.shardBytes) throw new Error(`shard size ${bytes} differs from the computed ${summary.shardBytes}`);
  return summary;
}

/** Sums per-range length histograms into one sorted histogram. */
export function mergeLengths(histograms: LengthHistogram[]): LengthHistogram {
  const lengths = new Map<number, number>();
  for (const h of histograms) for (const [len, n] of h) lengths.set(len, (lengths.get(len) ?? 0) + n);
  return [...lengths].sort((a, b) => a[0] - b[0]);
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}
