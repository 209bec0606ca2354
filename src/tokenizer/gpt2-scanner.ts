/**
 * A hand-written scanner for GPT-2's pre-tokenizer pattern, the one ByteLevel uses:
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * It reports piece boundaries (and an FNV-1a hash of each piece's UTF-16 code units)
 * without creating substrings, so a tokenizer cache hit allocates nothing. Running the
 * regex was a large share of encoding time, mostly in building the match array of
 * substrings (docs/PERFORMANCE.md, "Why the code is shaped so"). Semantics follow the regex in JavaScript's `u` mode
 * exactly (tests compare the two on random Unicode text).
 */
export const GPT2_PATTERN_SOURCE = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const LETTER = 1;
const NUMBER = 2;
const SPACE = 3;
const OTHER = 4;

// ASCII classes in a table; the rest of the BMP filled lazily (0 = not computed yet);
// astral code points in a Map.
const ASCII = new Uint8Array(128).map((_, c) =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ? LETTER : c >= 48 && c <= 57 ? NUMBER : c === 32 || (c >= 9 && c <= 13) ? SPACE : OTHER,
);
const bmp = new Uint8Array(65536);
const astral = new Map<number, number>();
const IS_LETTER = /^\p{L}$/u;
const IS_NUMBER = /^\p{N}$/u;
const IS_SPACE = /^\s$/u;

function classOf(cp: number): number {
  const ch = String.fromCodePoint(cp);
  return IS_LETTER.test(ch) ? LETTER : IS_NUMBER.test(ch) ? NUMBER : IS_SPACE.test(ch) ? SPACE : OTHER;
}

/**
 * Class and width (in code units) of the character at `p`, packed as class * 4 + width.
 * A lone surrogate is one code unit of class OTHER, as the regex in `u` mode sees it.
 */
function charAt(text: string, p: number, end: number): number {
  const u = text.charCodeAt(p);
  if (u < 128) return ASCII[u]! * 4 + 1;
  if (u >= 0xd800 && u <= 0xdbff && p + 1 < end) {
    const v = text.charCodeAt(p + 1);
    if (v >= 0xdc00 && v <= 0xdfff) {
      const cp = (u - 0xd800) * 0x400 + (v - 0xdc00) + 0x10000;
      let c = astral.get(cp);
      if (c === undefined) astral.set(cp, (c = classOf(cp)));
      return c * 4 + 2;
    }
  }
  let c = bmp[u]!;
  if (c === 0) bmp[u] = c = classOf(u);
  return c * 4 + 1;
}

/**
 * Piece boundaries: `[start, end, hash]` triples in one growable Int32Array (no
 * callback per piece: the consumer runs its own tight loop over them).
 */
export class PieceList {
  data = new Int32Array(3 * 1024);
  count = 0;

  push(start: number, end: number, hash: number): void {
    const at = this.count * 3;
    if (at + 3 > this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[at] = start;
    this.data[at + 1] = end;
    this.data[at + 2] = hash;
    this.count++;
  }
}

/** FNV-1a over the code units of `text[s, e)`. */
export function pieceHash(text: string, s: number, e: number): number {
  let h = 0x811c9dc5 | 0;
  for (let k = s; k < e; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
  return h;
}

/** Scans `text[start, end)` into GPT-2 pieces, in order, appending them to `out`. */
export function scanGpt2(text: string, start: number, end: number, out: PieceList): void {
  let i = start;
  while (i < end) {
    const c0 = text.charCodeAt(i);
    // 's 't 're 've 'm 'll 'd
    if (c0 === 39 && i + 1 < end) {
      const c1 = text.charCodeAt(i + 1);
      let n = 0;
      if (c1 === 115 || c1 === 116 || c1 === 109 || c1 === 100) n = 2;
      else if (i + 2 < end) {
        const c2 = text.charCodeAt(i + 2);
        if ((c1 === 114 && c2 === 101) || (c1 === 118 && c2 === 101) || (c1 === 108 && c2 === 108)) n = 3;
      }
      if (n > 0) {
        out.push(i, i + n, pieceHash(text, i, i + n));
        i += n;
        continue;
      }
    }
    // " ?" then a run of one class: letters, numbers, or neither space, letter nor number.
    const j = c0 === 32 && i + 1 < end ? i + 1 : i;
    const first = charAt(text, j, end);
    const cls = first >> 2;
    let k: number;
    if (cls !== SPACE) {
      k = j + (first & 3);
      while (k < end) {
        const next = charAt(text, k, end);
        if (next >> 2 !== cls) break;
        k += next & 3;
      }
    } else {
      // Whitespace: the run, minus its last character when non-space follows (\s+(?!\S)),
      // or the single character when that would leave nothing (\s+). Whitespace is
      // never astral: one character is one code unit.
      k = i + 1;
      while (k < end && charAt(text, k, end) >> 2 === SPACE) k++;
      if (k < end && k - i > 1) k--;
    }
    out.push(i, k, pieceHash(text, i, k));
    i = k;
  }
}
