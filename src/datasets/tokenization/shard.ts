/** The shard API in one import: build a dataset's shard for a tokenizer, find it, bill it. */
export { tokenizeToShard, ensureShard } from './tokenize-to-shard.js';
export type { TokenizeOptions } from './tokenize-to-shard.js';
export { shardCacheKey, shardPaths, shardPathFor, shardFolder } from './shard-cache.js';
export type { ShardIdentity } from './shard-cache.js';
export { SHARD_FORMAT_VERSION } from './shard-summary.js';
export type { ShardSummary } from './shard-summary.js';
export { countBillableTokens, readShardLengths } from './billable-tokens.js';
