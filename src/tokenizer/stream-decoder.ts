import type { Tokenizer } from '@huggingface/tokenizers';
import { byteLevelAlphabet } from './bpe-merger.js';

/**
 * Turns generated token ids into text a piece at a time. A piece never ends inside a
 * character: a byte-level token may carry only the first bytes of a UTF-8 sequence (an
 * emoji is often split over two or three tokens), and sending that half as U+FFFD would
 * corrupt the stream. The incomplete tail is held back until the next token completes it.
 */
export interface StreamDecoder {
  /** Text that became complete with this token ('' while a character is still open). */
  push(token: number): string;
  /** Whatever is held back at the end (an incomplete sequence decodes to U+FFFD). */
  flush(): string;
}

/**
 * Byte-level BPE (GPT-2 family, our init-model): every vocabulary character stands for
 * one byte, so a token's bytes are exact and a streaming UTF-8 decoder does the holding
 * back. Special tokens produce no text.
 */
export function byteLevelDecoder(tokenBytes: ReadonlyArray<Uint8Array | null>): StreamDecoder {
  const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  return {
    push(token) {
      const bytes = tokenBytes[token];
      return bytes ? utf8.decode(bytes, { stream: true }) : '';
    },
    flush: () => utf8.decode(),
  };
}

/**
 * Any other tokenizer (SentencePiece-style with byte fallback, Metaspace, …): decode a
 * short window of recent ids and emit what it adds, unless it ends in U+FFFD, which means
 * a byte sequence is still open (the approach of text-generation-inference).
 */
export function windowDecoder(tokenizer: Tokenizer, special: ReadonlySet<number>): StreamDecoder {
  const ids: number[] = [];
  let prefixOffset = 0;
  let readOffset = 0;
  const decode = (from: number, to?: number) =>
    tokenizer.decode(ids.slice(from, to), { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  return {
    push(token) {
      if (special.has(token)) return '';
      ids.push(token);
      const prefix = decode(prefixOffset, readOffset);
      const text = decode(prefixOffset);
      if (text.length > prefix.length && !text.endsWith('\uFFFD')) {
        prefixOffset = readOffset;
        readOffset = ids.length;
        return text.slice(prefix.length);
      }
      return '';
    },
    flush() {
      const prefix = decode(prefixOffset, readOffset);
      const text = decode(prefixOffset);
      readOffset = prefixOffset = ids.length;
      return text.length > prefix.length ? text.slice(prefix.length) : '';
    },
  };
}

/**
 * Each id's exact bytes for a byte-level vocabulary; special tokens map to null (no text).
 * Returns null when some token is not byte-level after all (the window decoder then works
 * from the library's own decode).
 */
export function byteTable(
  tokenizer: Tokenizer,
  added: ReadonlyArray<{ id: number; content: string }>,
  special: ReadonlySet<number>,
): Array<Uint8Array | null> | null {
  const alphabet = new Map(byteLevelAlphabet().map((ch, b) => [ch, b]));
  const table: Array<Uint8Array | null> = [];
  const addedById = new Map(added.map((t) => [t.id, t]));
  const encoder = new TextEncoder();
  for (const [token, id] of tokenizer.get_vocab(true)) {
    if (special.has(id)) {
      table[id] = null;
      continue;
    }
    const addedToken = addedById.get(id);
    if (addedToken) {
      table[id] = encoder.encode(addedToken.content);
      continue;
    }
    const bytes = new Uint8Array(token.length);
    let i = 0;
    for (const ch of token) {
      const b = alphabet.get(ch);
      if (b === undefined) return null;
      bytes[i++] = b;
    }
    table[id] = bytes.subarray(0, i);
  }
  return table;
}
