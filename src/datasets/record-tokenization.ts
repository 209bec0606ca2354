import type { Queryable } from '../db/connect.js';
import type { DatasetTokenization } from '../db/tables/datasets.js';
import type { ShardSummary } from './shards/shard-summary.js';

/** The `dataset_tokenizations.tokenizer_key` of a loaded tokenizer: its file and template hashes. */
export function tokenizerKey(tokenizer: { tokenizerSha256: string; templateSha256: string }): string {
  return `${tokenizer.tokenizerSha256}:${tokenizer.templateSha256}`;
}

/**
 * Stores (or refreshes) the row of a written shard: its path and the token counts the
 * cost estimate reads. Rows are keyed by content (dataset sha × tokenizer), so every
 * account that holds the same bytes shares one shard. Returns the stored row.
 */
export async function recordTokenization(
  db: Queryable,
  input: { sha256: string; key: string; shardPath: string; summary: ShardSummary },
): Promise<DatasetTokenization> {
  const { sha256, key, shardPath, summary } = input;
  return db
    .insertInto('dataset_tokenizations')
    .values({
      sha256,
      tokenizer_key: key,
      shard_path: shardPath,
      examples: summary.examples,
      total_tokens: BigInt(summary.totalTokens),
      trainable_tokens: BigInt(summary.trainableTokens),
      max_tokens: summary.maxTokens,
      length_histogram: JSON.stringify(summary.lengths),
    })
    .onConflict((oc) => oc.columns(['sha256', 'tokenizer_key']).doUpdateSet({ shard_path: shardPath }))
    .returningAll()
    .executeTakeFirstOrThrow();
}
