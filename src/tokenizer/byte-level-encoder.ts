/**
 * Byte-level BPE encoding that also says where each token lies in the UTF-8 bytes
 * of the input, which @huggingface/tokenizers 0.2 does not report (no offsets).
 *
 * In a byte-level BPE every vocabulary character stands for exactly one byte, so a
 * token's byte length is its string length (added tokens: their content's UTF-8
 * length). Two encoders give the same ids:
 *  - `libraryEncoder` calls the library's `encode` and measures its token strings;
 *    exact by construction, but slow (docs/PERFORMANCE.md, "Why the code is shaped so").
 *  - `fastEncoder` re-implements split-on-added-tokens → pre-tokenize → BPE with an
 *    integer merge table and a per-piece cache, many times faster. It reuses the
 *    library's own pre-tokenizer objects, so regex translation stays the library's.
 * `createEncoder` picks the fast one only after it produced the library's ids on a
 * probe text; tests compare both on a larger corpus.
 */
import { Buffer } from 'node:buffer';
import type { Tokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from './tokenizer-error.js';
import { BpeMerger } from './bpe-merger.js';
import { PieceList, scanGpt2 } from './gpt2-scanner.js';
import { PieceCache } from './piece-cache.js';
import { preSplitter } from './pre-splitter.js';
import type { PreTokenizerConfig } from './pre-splitter.js';

/** Ids and each token's exclusive end in the input's UTF-8 bytes. */
export interface Encoded {
  ids: Uint32Array;
  ends: Uint32Array;
}
export type Encoder = (text: string) => Encoded;

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

const MAP_CACHE_LIMIT = 200_000;

export function fastEncoder({ tokenizer, json }: ByteLevelSpec): Encoder {
  const merger = new BpeMerger(tokenizer, json.model);
  const added = (json.added_tokens ?? []).slice().sort((x, y) => y.content.length - x.content.length);
  const addedIds = new Map(added.map((t) => [t.content, t.id]));
  const addedPattern = added.length ? new RegExp(added.map((t) => t.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g') : null;
  const splitter = preSplitter(tokenizer, json.pre_tokenizer);
  const nfc = json.normalizer?.type === 'NFC';
  const pieceCache = new PieceCache();
  const mapCache = new Map<string, Uint32Array>();

  // Byte length of every token id, so positions cost one array read per token.
  const byteLength = new Uint32Array(tokenizer.model!.vocab.length);
  for (const [token, id] of merger.vocab) byteLength[id] = addedIds.has(token) ? Buffer.byteLength(token) : token.length;
  // Output buffers, reused across calls; `pos` is the running byte position.
  let ids = new Uint32Array(4096);
  let ends = new Uint32Array(4096);
  let count = 0;
  let pos = 0;
  let text = '';

  function push(pieceIds: Uint32Array): void {
    const n = pieceIds.length;
    if (count + n > ids.length) {
      const size = Math.max(count + n, ids.length * 2);
      const a = new Uint32Array(size);
      a.set(ids.subarray(0, count));
      ids = a;
      const b = new Uint32Array(size);
      b.set(ends.subarray(0, count));
      ends = b;
    }
    // Locals, not the closure's variables, inside the loop: this is the hottest loop.
    const outIds = ids;
    const outEnds = ends;
    let c = count;
    let p = pos;
    for (let k = 0; k < n; k++) {
      const id = pieceIds[k]!;
      p += byteLength[id]!;
      outIds[c] = id;
      outEnds[c++] = p;
    }
    count = c;
    pos = p;
  }

  const pieces = new PieceList();

  function encodeGpt2(start: number, end: number): void {
    pieces.count = 0;
    scanGpt2(text, start, end, pieces);
    const list = pieces.data;
    for (let p = 0; p < pieces.count * 3; p += 3) {
      const s = list[p]!;
      const e = list[p + 1]!;
      const hash = list[p + 2]!;
      let pieceIds = pieceCache.get(text, s, e, hash);
      if (pieceIds === undefined) {
        const piece = text.slice(s, e);
        pieceIds = merger.encode(piece);
        if (piece.length < 256) pieceCache.set(piece, hash, pieceIds);
      }
      push(pieceIds);
    }
  }

  function encodeSection(start: number, end: number): void {
    if (nfc) {
      const section = text.slice(start, end);
      if (/[^\x00-\x7f]/.test(section) && section.normalize('NFC') !== section) {
        throw new TokenizerError('template_mismatch', 'text is not in Unicode NFC form although the tokenizer normalizes to NFC');
      }
    }
    if (splitter.gpt2) {
      encodeGpt2(start, end);
      return;
    }
    for (const piece of splitter.split(text.slice(start, end))) {
      let pieceIds = mapCache.get(piece);
      if (pieceIds === undefined) {
        pieceIds = merger.encode(piece);
        if (piece.length < 256) {
          if (mapCache.size >= MAP_CACHE_LIMIT) mapCache.clear();
          mapCache.set(piece, pieceIds);
        }
      }
      push(pieceIds);
    }
  }

  return function encode(input) {
    text = input;
    count = 0;
    pos = 0;
    let last = 0;
    if (addedPattern) {
      addedPattern.lastIndex = 0;
      for (let m = addedPattern.exec(input); m !== null; m = addedPattern.exec(input)) {
        if (m.index > last) encodeSection(last, m.index);
        push(Uint32Array.of(addedIds.get(m[0])!));
        last = m.index + m[0].length;
      }
    }
    if (last < input.length) encodeSection(last, input.length);
    text = '';
    return { ids: ids.slice(0, count), ends: ends.slice(0, count) };
  };
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
  // Both encoders measure tokens as bytes, which only holds for byte-level BPE.
  const pre = spec.json.pre_tokenizer;
  const byteLevel =
    pre?.type === 'ByteLevel' || (pre?.type === 'Sequence' && (pre.pretokenizers ?? []).some((p) => p?.type === 'ByteLevel'));
  if (!byteLevel || spec.json.model.type !== 'BPE') {
    throw new TokenizerError(
      'tokenizer_unsupported',
      'only byte-level BPE tokenizers (GPT-2, Llama 3, Qwen, Mistral Nemo style) are supported; this one is not byte-level, so loss masks cannot be placed exactly',
    );
  }
  const slow = libraryEncoder(spec);
  let fast: Encoder;
  try {
    fast = fastEncoder(spec);
  } catch (error) {
    if (error instanceof TokenizerError && error.code === 'tokenizer_unsupported') return { encode: slow, fast: false };
    throw error;
  }
  const probe = ENCODER_PROBE + extraProbe;
  const a = slow(probe);
  const b = fast(probe);
  const same = a.ids.length === b.ids.length && a.ids.every((id, i) => id === b.ids[i] && a.ends[i] === b.ends[i]);
  return same ? { encode: fast, fast: true } : { encode: slow, fast: false };
}
