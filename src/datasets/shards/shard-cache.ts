import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { SHARD_FORMAT_VERSION } from './shard-summary.js';

/** What identifies a shard: the dataset's bytes and everything that shapes its tokens. */
export interface ShardIdentity {
  datasetSha256: string;
  /** `ModelTokenizer.tokenizerSha256`. */
  tokenizerSha256: string;
  /** `ModelTokenizer.templateSha256` (template, special tokens, rendering rules version). */
  templateSha256: string;
}

/** The shard's cache key: a sha256 over the identity and the shard format version. */
export function shardCacheKey(id: ShardIdentity): string {
  return createHash('sha256')
    .update(`tlshard-v${SHARD_FORMAT_VERSION}\0${id.datasetSha256}\0${id.tokenizerSha256}\0${id.templateSha256}`)
    .digest('hex');
}

/**
 * Where a shard and its summary live:
 * `<dataDir>/shards/<aa>/<datasetSha256>/<key>.tlshard` and `<key>.json`, grouped by
 * dataset so deleting a dataset's shards is one `rm -r` of its folder
 * (`shardFolder`). `aa` is the first two hex digits of the dataset sha.
 */
export function shardPaths(dataDir: string, id: ShardIdentity): { shard: string; summary: string; key: string } {
  const key = shardCacheKey(id);
  const folder = shardFolder(dataDir, id.datasetSha256);
  return { shard: join(folder, `${key}.tlshard`), summary: join(folder, `${key}.json`), key };
}

/** The folder holding every shard of one dataset. */
export function shardFolder(dataDir: string, datasetSha256: string): string {
  return join(dataDir, 'shards', datasetSha256.slice(0, 2), datasetSha256);
}

/** The cached shard path of a dataset for a loaded tokenizer. */
export function shardPathFor(
  dataDir: string,
  datasetSha256: string,
  tokenizer: { tokenizerSha256: string; templateSha256: string },
): string {
  return shardPaths(dataDir, { datasetSha256, tokenizerSha256: tokenizer.tokenizerSha256, templateSha256: tokenizer.templateSha256 }).shard;
}
