export { tokenizeToShard, ensureShard } from './tokenize-to-shard.js';
export type { TokenizeOptions } from './tokenize-to-shard.js';
export { shardCacheKey, shardPaths, shardPathFor, shardFolder } from '../shards/shard-cache.js';
export type { ShardIdentity } from '../shards/shard-cache.js';
export { SHARD_FORMAT_VERSION } from '../shards/shard-summary.js';
export type { ShardSummary } from '../shards/shard-summary.js';
export { countBillableTokens, readShardLengths } from '../shards/billable-tokens.js';
