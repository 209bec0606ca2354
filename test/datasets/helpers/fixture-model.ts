import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A small byte-level BPE tokenizer with a ChatML template, trained here on a fixed
 * corpus, for tests that must not depend on the Python trainer being installed.
 * The layout matches a Hugging Face model folder (`tokenizer.json`,
 * `tokenizer_config.json`, `config.json`), like `init-model --size tiny` writes.
 */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

// GPT-2's byte-to-unicode table: every byte maps to one printable code point.
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table: string[] = new Array(256);
  bs.forEach((b, i) => (table[b] = String.fromCharCode(cs[i]!)));
  return table;
}

const CORPUS = [
  'The quick brown fox jumps over the lazy dog.',
  'You are a helpful assistant. Answer the question in one sentence.',
  'What is the capital of France? The capital of France is Paris.',
  'Hello! How can I help you today? I would like to know the weather.',
  'def add(a, b):\n    return a + b\n\nprint(add(1, 2))',
  'Numbers: 1 2 3 10 42 100 2024 3.14159',
  'user assistant system tool message content role',
].join('\n');

/** Trains `merges` BPE merges over CORPUS with the GPT-2 pre-tokenizer split. */
function trainBpe(numMerges: number): { vocab: Record<string, number>; merges: string[] } {
  const table = bytesToUnicode();
  const encoder = new TextEncoder();
  const pattern = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
  const words = new Map<string, { symbols: string[]; count: number }>();
  for (const piece of CORPUS.repeat(3).match(pattern) ?? []) {
    const mapped = Array.from(encoder.encode(piece), (b) => table[b]!);
    const key = mapped.join('');
    const entry = words.get(key);
    if (entry) entry.count++;
    else words.set(key, { symbols: mapped, count: 1 });
  }
  const vocab: Record<string, number> = {};
  table.forEach((ch, i) => (vocab[ch] = i));
  const merges: string[] = [];
  for (let m = 0; m < numMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { symbols, count } of words.values()) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const k = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + count);
      }
    }
    let best: string | null = null;
    let bestCount = 1;
    for (const [k, c] of pairs) if (c > bestCount || (c === bestCount && best !== null && k < best)) [best, bestCount] = [k, c];
    if (best === null) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push(best);
    vocab[a + b] = Object.keys(vocab).length;
    for (const word of words.values()) {
      const out: string[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (word.symbols[i] === a && word.symbols[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(word.symbols[i]!);
      }
      word.symbols = out;
    }
  }
  return { vocab, merges };
}

/** Writes the fixture model folder into `dir` and returns `dir`. */
export async function writeFixtureModel(dir: string, opts: { contextLength?: number } = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const { vocab, merges } = trainBpe(300);
  const base = Object.keys(vocab).length;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, i) => ({
      id: base + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
  const config = {
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    model_max_length: opts.contextLength ?? 512,
    chat_template: CHATML_TEMPLATE,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2));
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({ model_type: 'llama', vocab_size: base + SPECIALS.length, max_position_embeddings: opts.contextLength ?? 512 }),
  );
  return dir;
}
