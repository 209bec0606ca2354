import type { ModelTokenizer, RenderedExample } from '../../tokenizer/model-tokenizer.js';
import { preferenceSides } from './check-example.js';
import type { Example, PreferenceExample } from './check-example.js';
import type { DatasetFormat } from './validation-report.js';

/**
 * The shard sequences of one checked line: one for chat and completion examples; for a
 * preference example its chosen then its rejected sequence (trainer/FORMAT.md § Preference
 * shards), each rendered like a chat ending with that answer. Validation and tokenization
 * both write through this, so a shard is the same whichever pass wrote it.
 */
export function renderSequences(tokenizer: ModelTokenizer, value: unknown, format: DatasetFormat): RenderedExample[] {
  if (format === 'preference') return preferenceSides(value as PreferenceExample).map((side) => tokenizer.renderExample(side));
  return [tokenizer.renderExample(value as Example)];
}

/** Tokens before a sequence's first trained token: the prompt, which truncation must leave room after. */
export function promptLength(mask: Uint8Array): number {
  for (let j = 1; j < mask.length; j++) if (mask[j] === 1) return j;
  return mask.length;
}
