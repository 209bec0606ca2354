/**
 * A fixed-size open-addressing set of 64-bit example fingerprints, each with the line
 * it was first seen on. 12 bytes a slot in typed arrays (no per-entry objects), so
 * a million examples cost ≈ 24 MB instead of the ≈ 100 MB a `Map<string, number>`
 * takes. At 3/4 load it stops accepting new fingerprints (`full`), which bounds
 * memory whatever the file holds; later duplicates then go unreported.
 */
export class FingerprintSet {
  private readonly lo: Uint32Array;
  private readonly hi: Uint32Array;
  /** 0 = empty slot; lines are 1-based. */
  private readonly lines: Uint32Array;
  private readonly mask: number;
  private size = 0;

  /** Sized for `expected` entries, capped at `maxSlots` (a power of two). */
  constructor(expected: number, maxSlots = 1 << 22) {
    let slots = 1024;
    while (slots < expected * 2 && slots < maxSlots) slots *= 2;
    this.lo = new Uint32Array(slots);
    this.hi = new Uint32Array(slots);
    this.lines = new Uint32Array(slots);
    this.mask = slots - 1;
  }

  get full(): boolean {
    return this.size * 4 >= this.lines.length * 3;
  }

  /** Adds the fingerprint; returns the line it was first seen on, or 0 when new (or full). */
  addOrGet(lo: number, hi: number, line: number): number {
    let slot = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const seen = this.lines[slot]!;
      if (seen === 0) break;
      if (this.lo[slot] === lo && this.hi[slot] === hi) return seen;
      slot = (slot + 1) & this.mask;
    }
    if (this.full) return 0;
    this.lo[slot] = lo;
    this.hi[slot] = hi;
    this.lines[slot] = line;
    this.size++;
    return 0;
  }
}
