/**
 * Token ids of pre-tokenizer pieces, looked up by a span of the input text rather than
 * by a substring: open addressing on the piece's hash, confirmed with `startsWith` at
 * the span, so a hit creates no string. Full at 3/4 load, it starts over (pieces
 * repeat heavily: a few thousand cover most of a language's text).
 */
export class PieceCache {
  private hashes: Int32Array;
  private keys: Array<string | undefined>;
  private values: Array<Uint32Array | undefined>;
  private size = 0;

  constructor(private readonly slots = 1 << 16) {
    this.hashes = new Int32Array(slots);
    this.keys = new Array(slots);
    this.values = new Array(slots);
  }

  get(text: string, start: number, end: number, hash: number): Uint32Array | undefined {
    const mask = this.slots - 1;
    const length = end - start;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const key = this.keys[slot];
      if (key === undefined) return undefined;
      if (this.hashes[slot] === hash && key.length === length && text.startsWith(key, start)) return this.values[slot];
    }
  }

  set(key: string, hash: number, value: Uint32Array): void {
    if (this.size * 4 >= this.slots * 3) {
      this.hashes = new Int32Array(this.slots);
      this.keys = new Array(this.slots);
      this.values = new Array(this.slots);
      this.size = 0;
    }
    const mask = this.slots - 1;
    let slot = hash & mask;
    while (this.keys[slot] !== undefined) slot = (slot + 1) & mask;
    this.hashes[slot] = hash;
    this.keys[slot] = key;
    this.values[slot] = value;
    this.size++;
  }
}
