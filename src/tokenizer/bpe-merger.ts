import { Buffer } from 'node:buffer';
import type { Tokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from './tokenizer-error.js';

const MAX_FAST_PIECE = 64;

/**
 * Byte-level BPE of one pre-tokenizer piece on integer ids: merges are looked up as
 * (left id, right id) → rank and merged id packed in one number, instead of the
 * library's JSON.stringify'd string pairs. Pieces over 64 bytes (where the quadratic
 * loop would hurt) go to the library's own heap-based `bpe`.
 */
export class BpeMerger {
  readonly vocab: Map<string, number>;
  private readonly byteChar = byteLevelAlphabet();
  private readonly byteId: number[];
  private readonly merges = new Map<number, number>();
  private readonly ignoreMerges: boolean;

  constructor(
    private readonly tokenizer: Tokenizer,
    model: Record<string, unknown>,
  ) {
    const m = model as {
      merges?: Array<string | [string, string]>;
      ignore_merges?: boolean;
      end_of_word_suffix?: string | null;
      continuing_subword_suffix?: string | null;
      dropout?: number | null;
      type?: string;
    };
    if (m.type !== 'BPE' || !Array.isArray(m.merges)) throw unsupported('the model is not BPE');
    if (m.end_of_word_suffix || m.continuing_subword_suffix) throw unsupported('subword suffixes are not supported');
    if (m.dropout) throw unsupported('BPE dropout makes tokenization random');
    this.vocab = tokenizer.get_vocab(true);
    this.byteId = this.byteChar.map((ch) => this.vocab.get(ch) ?? -1);
    if (this.byteId.some((id) => id < 0)) throw unsupported('the vocabulary lacks some of the 256 byte tokens');
    m.merges.forEach((pair, rank) => {
      const [a, b] = typeof pair === 'string' ? (pair.split(' ', 2) as [string, string]) : pair;
      const ia = this.vocab.get(a);
      const ib = this.vocab.get(b);
      const im = this.vocab.get(a + b);
      if (ia === undefined || ib === undefined || im === undefined) throw unsupported(`merge "${a} ${b}" is not in the vocabulary`);
      const key = ia * 4194304 + ib;
      if (!this.merges.has(key)) this.merges.set(key, rank * 4194304 + im);
    });
    this.ignoreMerges = m.ignore_merges === true;
  }

  /** The token ids of one piece (a Unicode string the pre-tokenizer produced). */
  encode(piece: string): Uint32Array {
    const bytes = Buffer.from(piece, 'utf8');
    if (this.ignoreMerges || bytes.length > MAX_FAST_PIECE) {
      let mapped = '';
      for (const b of bytes) mapped += this.byteChar[b];
      if (this.ignoreMerges && this.vocab.has(mapped)) return Uint32Array.of(this.vocab.get(mapped)!);
      if (bytes.length > MAX_FAST_PIECE) {
        const bpe = (this.tokenizer.model as unknown as { bpe(token: string): string[] }).bpe(mapped);
        return Uint32Array.from(bpe, (t) => this.vocab.get(t)!);
      }
    }
    const syms: number[] = Array.from(bytes, (b) => this.byteId[b]!);
    // Merge the lowest-ranked adjacent pair, leftmost first, until none applies: the
    // order of the library's priority queue (rank, then position).
    for (;;) {
      let best = -1;
      let bestValue = Infinity;
      for (let i = 0; i + 1 < syms.length; i++) {
        const v = this.merges.get(syms[i]! * 4194304 + syms[i + 1]!);
        if (v !== undefined && v < bestValue) {
          bestValue = v;
          best = i;
        }
      }
      if (best < 0) return Uint32Array.from(syms);
      syms.splice(best, 2, bestValue % 4194304);
    }
  }
}

/** GPT-2's byte ↔ printable-character table, as `@huggingface/tokenizers` builds it. */
export function byteLevelAlphabet(): string[] {
  const table: string[] = new Array(256);
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let n = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
  return table;
}

export function unsupported(why: string): TokenizerError {
  return new TokenizerError('tokenizer_unsupported', `only byte-level BPE tokenizers are supported: ${why}`);
}
