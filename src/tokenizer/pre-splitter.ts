import type { Tokenizer } from '@huggingface/tokenizers';
import { unsupported } from './bpe-merger.js';
import { GPT2_PATTERN_SOURCE } from './gpt2-scanner.js';

export interface PreTokenizerConfig {
  type: string;
  pretokenizers?: Array<PreTokenizerConfig | null>;
  add_prefix_space?: boolean;
  use_regex?: boolean;
}

/** A library pre-tokenizer object: splits strings, whatever its type. */
interface PreTokenizerStep {
  pre_tokenize(text: string | string[]): string[];
}

/**
 * The library's pre-tokenizer without its byte mapping: the same split into pieces,
 * as Unicode strings. `gpt2` when it is exactly ByteLevel's GPT-2 regex (then the
 * hand-written scanner applies); otherwise a function running the library's own
 * steps. Only pipelines that end in ByteLevel (alone, or last in a Sequence) qualify.
 */
export function preSplitter(
  tokenizer: Tokenizer,
  config: PreTokenizerConfig | null | undefined,
): { gpt2: true } | { gpt2: false; split: (text: string) => string[] } {
  // Steps are identified from tokenizer.json and run as the library's objects, built
  // from the same config in the same order.
  const instance = tokenizer.pre_tokenizer as unknown as PreTokenizerStep & { tokenizers?: Array<PreTokenizerStep | null> };
  let steps: Array<{ config: PreTokenizerConfig; step: PreTokenizerStep }> = [];
  if (config?.type === 'Sequence') {
    steps = (config.pretokenizers ?? []).flatMap((c, i) => (c ? [{ config: c, step: instance.tokenizers![i]! }] : []));
  } else if (config) {
    steps = [{ config, step: instance }];
  }
  const last = steps[steps.length - 1];
  if (last?.config.type !== 'ByteLevel') throw unsupported('the pre-tokenizer does not end in ByteLevel');
  if (last.config.add_prefix_space) throw unsupported('ByteLevel add_prefix_space inserts text that is not in the input');
  if (steps.slice(0, -1).some((s) => s.config.type === 'ByteLevel')) throw unsupported('ByteLevel appears twice in the pre-tokenizer');
  const before = steps.slice(0, -1).map((s) => s.step);
  const libraryPattern = (last.step as unknown as { pattern?: RegExp }).pattern;
  const useRegex = last.config.use_regex !== false;
  if (useRegex && !libraryPattern) throw unsupported('the ByteLevel split pattern is not available');
  if (useRegex && before.length === 0 && libraryPattern!.source === GPT2_PATTERN_SOURCE && libraryPattern!.flags.includes('u'))
    return { gpt2: true };
  const pattern = useRegex ? new RegExp(libraryPattern!.source, libraryPattern!.flags) : null;
  return {
    gpt2: false,
    split(text) {
      let pieces = [text];
      for (const step of before) pieces = step.pre_tokenize(pieces);
      if (!pattern) return pieces;
      if (pieces.length === 1) return pieces[0]!.match(pattern) ?? [];
      return pieces.flatMap((p) => p.match(pattern) ?? []);
    },
  };
}
