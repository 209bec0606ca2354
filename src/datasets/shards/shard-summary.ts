/** Sorted `[tokens, count]` pairs: exact, and small (one pair per distinct length). */
export type LengthHistogram = Array<[length: number, count: number]>;

/** Version of trainer/FORMAT.md this code writes. */
export const SHARD_FORMAT_VERSION = 1;

/** What a shard holds, stored beside it as `<key>.json` and returned by `tokenizeToShard`. */
export interface ShardSummary {
  formatVersion: number;
  examples: number;
  totalTokens: number;
  /** Tokens with mask 1, not counting each example's first token (it has no context). */
  trainableTokens: number;
  maxTokens: number;
  meanTokens: number;
  /** Example lengths as sorted `[tokens, count]` pairs: exact billing for any max length. */
  lengths: LengthHistogram;
  shardBytes: number;
  /** A preference shard (trainer/FORMAT.md): examples are pairs' chosen and rejected sequences, in turn. Absent = supervised. */
  preference?: boolean;
  datasetSha256: string | null;
  tokenizerSha256: string;
  templateSha256: string;
}
