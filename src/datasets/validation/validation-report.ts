import type { LengthHistogram, ShardSummary } from '../shards/shard-summary.js';

export type { LengthHistogram };

/**
 * The shapes a validation run reports. Line numbers are 1-based physical lines of
 * the file as an editor shows them (a byte-order mark does not shift them, CRLF
 * counts as one line break); `line: null` marks a finding about the whole file.
 */

/** Error codes, each produced by a file in test/fixtures/datasets/. */
export const VALIDATION_ERROR_CODES = [
  'invalid_utf8',
  'invalid_json',
  'not_an_object',
  'missing_messages',
  'unrecognized_role',
  'missing_content',
  'unrecognized_key',
  'no_assistant_message',
  'empty_completion',
  'mixed_formats',
  'example_too_long',
  'too_few_examples',
  'file_too_large',
  'empty_file',
  /** A recognized key with a value of the wrong type or range (`weight: 2`, `tools: {}`). */
  'invalid_value',
  /** The model's chat template refused the example (only when validating with a tokenizer). */
  'template_error',
  /** The file is UTF-16 or UTF-32 text (with or without a byte-order mark), not UTF-8. */
  'unsupported_encoding',
  /** The file is binary: compressed, an archive, Parquet, or mostly control bytes. */
  'binary_file',
  /** Preference data: `preferred_output` / `non_preferred_output` missing, empty, or an answer without text. */
  'missing_output',
  /** Preference data: an output side holds more than one message. */
  'too_many_output_messages',
  /** Preference data: an output message whose role is not "assistant". */
  'output_not_assistant',
  /** Preference data: the preferred and non-preferred answers are the same text. */
  'identical_outputs',
  /** Preference data: the prompt (`input.messages`) does not end with a user message. */
  'prompt_not_user_turn',
] as const;
export type ValidationErrorCode = (typeof VALIDATION_ERROR_CODES)[number];

export const VALIDATION_WARNING_CODES = [
  /** The same line (byte for byte) appeared earlier; the message names that line. */
  'duplicate_example',
  /** Longer than `limits.truncateAt` tokens: the trainer will cut it there. */
  'example_truncated',
] as const;
export type ValidationWarningCode = (typeof VALIDATION_WARNING_CODES)[number];

/** One finding. `field` is a path into the example such as `messages[2].role`, or null. */
export interface ValidationIssue<C extends string = ValidationErrorCode | ValidationWarningCode> {
  line: number | null;
  code: C;
  field: string | null;
  /** What was found and what was expected, for a person to read. */
  message: string;
}

export type DatasetFormat = 'chat' | 'completion' | 'preference';

export interface ValidationLimits {
  /** Default 512 MB. */
  maxBytes: number;
  /** Default 10. */
  minExamples: number;
  /** Default 1,000,000. */
  maxExamples: number;
  /**
   * Tokens one rendered example may have; more is `example_too_long`. Only checked
   * with a tokenizer. Default: the model's context length (null: no limit).
   */
  maxTokensPerExample: number | null;
  /**
   * Examples longer than this (and not over `maxTokensPerExample`) get an
   * `example_truncated` warning; pass a job's max sequence length. Default: null (off).
   */
  truncateAt: number | null;
  /**
   * A line longer than this is `example_too_long` without being parsed, which keeps
   * memory bounded whatever a line holds. Default 64 MiB.
   */
  maxLineBytes: number;
}

export const DEFAULT_VALIDATION_LIMITS: Readonly<Omit<ValidationLimits, 'maxTokensPerExample'>> = {
  maxBytes: 512 * 1024 * 1024,
  minExamples: 10,
  maxExamples: 1_000_000,
  truncateAt: null,
  maxLineBytes: 64 * 1024 * 1024,
};

export interface MessagesPerRole {
  system: number;
  user: number;
  assistant: number;
  tool: number;
}

export interface TokenStats {
  total: number;
  mean: number;
  max: number;
  /** Tokens that carry loss (assistant replies and end-of-turn markers, or completions). */
  trainable: number;
  lengths: LengthHistogram;
}

export interface ValidationStats {
  bytes: number;
  /** Physical lines, blank ones included. */
  lines: number;
  /** Non-blank lines: one example each. */
  examples: number;
  format: DatasetFormat | null;
  /** Over examples without errors; null for the completion format. */
  messagesPerRole: MessagesPerRole | null;
  /** Over examples without errors; null without a tokenizer. */
  tokens: TokenStats | null;
}

export interface ValidationReport {
  /** True when there is no error (warnings allowed): the dataset is READY. */
  ok: boolean;
  /** The first 100 errors in line order (whole-file errors first). */
  errors: Array<ValidationIssue<ValidationErrorCode>>;
  errorCount: number;
  /** The first 100 warnings in line order. */
  warnings: Array<ValidationIssue<ValidationWarningCode>>;
  warningCount: number;
  stats: ValidationStats;
  /** The token shard written in the same pass (`shardPath` option, valid datasets only). */
  shard?: ShardSummary;
}

/** How many errors and warnings a report lists (counts stay exact beyond it). */
export const REPORTED_ISSUES_CAP = 100;
