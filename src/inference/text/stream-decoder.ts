import type { Tokenizer } from '@huggingface/tokenizers';

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

/** GPT-2's byte ↔ printable character table (bytes_to_unicode), as char → byte. */
export function byteLevelAlphabet(): Map<string, number> {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Map<string, number>();
  const isPrintable = new Set(printable);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const code = isPrintable.has(b) ? b : 256 + extra++;
    map.set(String.fromCodePoint(code), b);
  }
  return map;
}
