/**
 * Byte-level BPE encoding that also says where each token lies in the UTF-8 bytes
 * of the input, which @huggingface/tokenizers 0.2 does not report (no offsets).
 *
 * In a byte-level BPE every vocabulary character stands for exactly one byte, so a
 * token's byte length is its string length (added tokens: their content's UTF-8
 * length). Two encoders give the same ids:
 *  - `libraryEncoder` calls the library's `encode` and measures its token strings;
 *    exact by construction, but ≈ 1 MB/s.
 *  - `fastEncoder` re-implements split-on-added-tokens → pre-tokenize → BPE with an
 *    integer merge table and a per-piece cache (≈ 30× faster). It reuses the
 *    library's own pre-tokenizer objects, so regex translation stays the library's.
 * `createEncoder` picks the fast one only after it produced the library's ids on a
 * probe text; tests compare both on a larger corpus.
 */
import { Buffer } from 'node:buffer';
import type { Tokenizer } from '@huggingface/tokenizers';
import { DatasetError } from '../dataset-error.js';

/** Ids and each token's exclusive end in the input's UTF-8 bytes. */
export interface Encoded {
  ids: Uint32Array;
  ends: Uint32Array;
}
export type Encoder = (text: string) => Encoded;

interface PreTokenizerConfig {
  type: string;
  pretokenizers?: Array<PreTokenizerConfig | null>;
  add_prefix_space?: boolean;
  use_regex?: boolean;
}

/** A library pre-tokenizer object: splits strings, whatever its type. */
interface PreTokenizerStep {
  pre_tokenize(text: string | string[]): string[];
}

interface AddedTokenInfo {
  id: number;
  content: string;
  special: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
}

/** What the fast path needs to know of tokenizer.json. */
export interface ByteLevelSpec {
  tokenizer: Tokenizer;
  json: {
    added_tokens?: AddedTokenInfo[];
    normalizer?: { type: string } | null;
    pre_tokenizer?: PreTokenizerConfig | null;
    model: Record<string, unknown>;
  };
}

export function libraryEncoder({ tokenizer, json }: ByteLevelSpec): Encoder {
  const added = new Map((json.added_tokens ?? []).map((t) => [t.content, t]));
  return (text) => {
    const { ids, tokens } = tokenizer.encode(text, { add_special_tokens: false });
    const ends = new Uint32Array(ids.length);
    let at = 0;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      at += added.has(t) ? Buffer.byteLength(t) : t.length;
      ends[i] = at;
    }
    return { ids: Uint32Array.from(ids), ends };
  };
}

const MAX_FAST_PIECE = 64;
const CACHE_LIMIT = 200_000;

export function fastEncoder({ tokenizer, json }: ByteLevelSpec): Encoder {
  const vocab = tokenizer.get_vocab(true);
  const byteChar = byteLevelAlphabet();
  const byteId = byteChar.map((ch) => vocab.get(ch));
  if (byteId.some((id) => id === undefined)) throw unsupported('the vocabulary lacks some of the 256 byte tokens');
  const model = json.model as { merges: Array<string | [string, string]>; ignore_merges?: boolean; end_of_word_suffix?: string | null; continuing_subword_suffix?: string | null; byte_fallback?: boolean; dropout?: number | null };
  if (model.end_of_word_suffix || model.continuing_subword_suffix) throw unsupported('subword suffixes are not supported');
  if (model.dropout) throw unsupported('BPE dropout makes tokenization random');
  // (left id, right id) → rank * 2^22 + merged id, as one integer key and value.
  const merges = new Map<number, number>();
  model.merges.forEach((m, rank) => {
    const [a, b] = typeof m === 'string' ? (m.split(' ', 2) as [string, string]) : m;
    const ia = vocab.get(a);
    const ib = vocab.get(b);
    const im = vocab.get(a + b);
    if (ia === undefined || ib === undefined || im === undefined) throw unsupported(`merge "${a} ${b}" is not in the vocabulary`);
    const key = ia * 4194304 + ib;
    if (!merges.has(key)) merges.set(key, rank * 4194304 + im);
  });
  const ignoreMerges = model.ignore_merges === true;
  const bpeModel = tokenizer.model as unknown as { bpe(token: string): string[] };
  const added = (json.added_tokens ?? []).slice().sort((x, y) => y.content.length - x.content.length);
  const addedIds = new Map(added.map((t) => [t.content, t.id]));
  const addedPattern = added.length
    ? new RegExp(added.map((t) => t.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
    : null;
  const split = preSplitter(tokenizer, json.pre_tokenizer);
  const nfc = json.normalizer?.type === 'NFC';
  const cache = new Map<string, Uint32Array>();

  const bpe = (piece: string): number[] => {
    const bytes = Buffer.from(piece, 'utf8');
    if (ignoreMerges || bytes.length > MAX_FAST_PIECE) {
      let mapped = '';
      for (const b of bytes) mapped += byteChar[b];
      if (ignoreMerges && vocab.has(mapped)) return [vocab.get(mapped)!];
      if (bytes.length > MAX_FAST_PIECE) return bpeModel.bpe(mapped).map((t) => vocab.get(t)!);
    }
    const syms: number[] = Array.from(bytes, (b) => byteId[b]!);
    // Merge the lowest-ranked adjacent pair, leftmost first, until none applies:
    // the same order as the library's priority queue (rank, then position).
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      let bestId = 0;
      for (let i = 0; i + 1 < syms.length; i++) {
        const v = merges.get(syms[i]! * 4194304 + syms[i + 1]!);
        if (v !== undefined && v < bestRank) {
          bestRank = v;
          best = i;
          bestId = v % 4194304;
        }
      }
      if (best < 0) return syms;
      syms.splice(best, 2, bestId);
    }
  };

  // Byte length of every token id, so positions cost one array read per token.
  const byteLength = new Uint32Array(tokenizer.model!.vocab.length);
  for (const [token, id] of vocab) byteLength[id] = addedIds.has(token) ? Buffer.byteLength(token) : token.length;
  let ids = new Uint32Array(4096);
  let ends = new Uint32Array(4096);
  let count = 0;
  const grow = (need: number) => {
    if (need <= ids.length) return;
    const size = Math.max(need, ids.length * 2);
    const a = new Uint32Array(size);
    a.set(ids.subarray(0, count));
    ids = a;
    const b = new Uint32Array(size);
    b.set(ends.subarray(0, count));
    ends = b;
  };

  const encodeSection = (section: string, at: number): number => {
    if (nfc && !isAscii(section) && section.normalize('NFC') !== section) {
      throw new DatasetError('template_mismatch', 'text is not in Unicode NFC form although the tokenizer normalizes to NFC');
    }
    for (const piece of split(section)) {
      let pieceIds = cache.get(piece);
      if (pieceIds === undefined) {
        pieceIds = Uint32Array.from(bpe(piece));
        if (piece.length < 256) {
          if (cache.size >= CACHE_LIMIT) cache.clear();
          cache.set(piece, pieceIds);
        }
      }
      grow(count + pieceIds.length);
      for (let k = 0; k < pieceIds.length; k++) {
        const id = pieceIds[k]!;
        at += byteLength[id]!;
        ids[count] = id;
        ends[count++] = at;
      }
    }
    return at;
  };

  return (text) => {
    count = 0;
    let at = 0;
    let last = 0;
    if (addedPattern) {
      addedPattern.lastIndex = 0;
      for (let m = addedPattern.exec(text); m !== null; m = addedPattern.exec(text)) {
        if (m.index > last) at = encodeSection(text.slice(last, m.index), at);
        at += Buffer.byteLength(m[0]);
        grow(count + 1);
        ids[count] = addedIds.get(m[0])!;
        ends[count++] = at;
        last = m.index + m[0].length;
      }
    }
    if (last < text.length) encodeSection(last === 0 ? text : text.slice(last), at);
    return { ids: ids.slice(0, count), ends: ends.slice(0, count) };
  };
}

/**
 * The library's pre-tokenizer without its byte mapping: the same split into pieces,
 * as Unicode strings (cache keys that need no re-encoding). Only pipelines that end
 * in ByteLevel (alone, or last in a Sequence) qualify.
 */
function preSplitter(tokenizer: Tokenizer, config: PreTokenizerConfig | null | undefined): (text: string) => string[] {
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
  if (!last || last.config.type !== 'ByteLevel') throw unsupported('the pre-tokenizer does not end in ByteLevel');
  if (last.config.add_prefix_space) throw unsupported('ByteLevel add_prefix_space inserts text that is not in the input');
  const before = steps.slice(0, -1).map((s) => s.step);
  if (steps.slice(0, -1).some((s) => s.config.type === 'ByteLevel')) throw unsupported('ByteLevel appears twice in the pre-tokenizer');
  const libraryPattern = (last.step as unknown as { pattern?: RegExp }).pattern;
  if (last.config.use_regex !== false && !libraryPattern) throw unsupported('the ByteLevel split pattern is not available');
  const pattern = last.config.use_regex !== false ? new RegExp(libraryPattern!.source, libraryPattern!.flags) : null;
  return (text) => {
    let pieces = [text];
    for (const step of before) pieces = step.pre_tokenize(pieces);
    if (!pattern) return pieces;
    if (pieces.length === 1) return pieces[0]!.match(pattern) ?? [];
    return pieces.flatMap((p) => p.match(pattern) ?? []);
  };
}

/** GPT-2's byte ↔ printable-character table, as `@huggingface/tokenizers` builds it. */
export function byteLevelAlphabet(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const table: string[] = new Array(256);
  bs.forEach((b) => (table[b] = String.fromCharCode(b)));
  let n = 0;
  for (let b = 0; b < 256; b++) if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  return table;
}

function isAscii(s: string): boolean {
  return !/[^\x00-\x7f]/.test(s);
}

function unsupported(why: string): DatasetError {
  return new DatasetError('tokenizer_unsupported', `only byte-level BPE tokenizers are supported: ${why}`);
}

/** Text that exercises what differs between tokenizers: scripts, digits, whitespace runs, emoji. */
export const ENCODER_PROBE =
  "Hello, world! It's 2024: naïve café — 東京 ☕ 👩‍💻 𝔘𝔫𝔦𝔠𝔬𝔡𝔢\n\n  indented\tcode(x) {\n    return x**2;\r\n}\n" +
  " don't you'll I'M 12345 3.14159 __init__ <tag attr=\"v\"> \u00a0nbsp   trailing   \n";

/**
 * The fast encoder when it reproduces the library's ids on the probe (and on
 * `extraProbe`), else the exact-but-slow library encoder.
 */
export function createEncoder(spec: ByteLevelSpec, extraProbe = ''): { encode: Encoder; fast: boolean } {
  const slow = libraryEncoder(spec);
  let fast: Encoder;
  try {
    fast = fastEncoder(spec);
  } catch (error) {
    if (error instanceof DatasetError && error.code === 'tokenizer_unsupported') return { encode: slow, fast: false };
    throw error;
  }
  const probe = ENCODER_PROBE + extraProbe;
  const a = slow(probe);
  const b = fast(probe);
  const same = a.ids.length === b.ids.length && a.ids.every((id, i) => id === b.ids[i] && a.ends[i] === b.ends[i]);
  return same ? { encode: fast, fast: true } : { encode: slow, fast: false };
}
