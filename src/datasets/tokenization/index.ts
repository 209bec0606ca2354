export { ModelTokenizer, loadModelTokenizer, RENDER_VERSION } from './model-tokenizer.js';
export type { RenderedExample } from './model-tokenizer.js';
export { tokenizeToShard, ensureShard } from './tokenize-to-shard.js';
export type { TokenizeOptions } from './tokenize-to-shard.js';
export { shardCacheKey, shardPaths, shardPathFor, shardFolder } from './shard-cache.js';
export type { ShardIdentity } from './shard-cache.js';
export { SHARD_FORMAT_VERSION } from './shard-summary.js';
export type { ShardSummary } from './shard-summary.js';
export { countBillableTokens, readShardLengths } from './billable-tokens.js';
