import * as ort from 'onnxruntime-node';

export interface KvLayout {
  /** Key and value tensors per layer: 2 × layers. */
  tensors: number;
  kvHeads: number;
  headDim: number;
}

/**
 * The key/value cache of the requests decoding together, as the model's own past inputs:
 * one [rows, kvHeads, slots, headDim] tensor per layer and kind. Rows have different
 * lengths, so each is left-padded to the longest; `pads[r]` slots at the front of row r
 * are masked out. Left padding keeps every row's newest token in the last slot, so one
 * decode step appends one slot to all rows, and the model's causal (and sliding-window)
 * arithmetic, which counts slots back from the end, stays exact.
 *
 * A step's outputs become the next step's inputs without a copy. Rows are copied only
 * when the membership changes: a request joins (after its prefill) or leaves.
 */
export class KvBatch {
  private cache: ort.Tensor[];
  private readonly pads: number[] = [];
  private slots = 0;

  constructor(private readonly layout: KvLayout) {
    this.cache = this.allocate(0, 0);
  }

  get rows(): number {
    return this.pads.length;
  }

  /** Slots per row (the past length the next step sees). */
  get length(): number {
    return this.slots;
  }

  get tensors(): readonly ort.Tensor[] {
    return this.cache;
  }

  /** Tokens row r holds (its position for the next token). */
  tokens(row: number): number {
    return this.slots - this.pads[row]!;
  }

  /** Appends a request's own cache ([1, kvHeads, n, headDim] tensors) as the last row. */
  add(own: readonly ort.Tensor[]): number {
    const n = own[0]!.dims[2]!;
    const rows = this.rows;
    const slots = Math.max(this.slots, n);
    const shift = slots - this.slots;
    const next = this.allocate(rows + 1, slots);
    for (let t = 0; t < this.layout.tensors; t++) {
      const dst = next[t]!.data as Float32Array;
      const src = this.cache[t]!.data as Float32Array;
      for (let r = 0; r < rows; r++) this.copyRow(src, r, this.slots, 0, this.slots, dst, r, slots, shift);
      this.copyRow(own[t]!.data as Float32Array, 0, n, 0, n, dst, rows, slots, slots - n);
    }
    for (let r = 0; r < rows; r++) this.pads[r]! += shift;
    this.pads.push(slots - n);
    this.cache = next;
    this.slots = slots;
    return rows;
  }

  /** Removes rows (indices into the current order); the rest keep their order. */
  remove(rows: ReadonlySet<number>): void {
    if (rows.size === 0) return;
    const keep = this.pads.map((_, r) => r).filter((r) => !rows.has(r));
    // Slots that are padding in every remaining row are dropped too.
    const trim = keep.length ? Math.min(...keep.map((r) => this.pads[r]!)) : this.slots;
    const slots = this.slots - trim;
    const next = this.allocate(keep.length, slots);
    for (let t = 0; t < this.layout.tensors; t++) {
      const dst = next[t]!.data as Float32Array;
      const src = this.cache[t]!.data as Float32Array;
      keep.forEach((r, i) => this.copyRow(src, r, this.slots, trim, slots, dst, i, slots, 0));
    }
    const pads = keep.map((r) => this.pads[r]! - trim);
    this.pads.length = 0;
    this.pads.push(...pads);
    this.cache = next;
    this.slots = slots;
  }

  /** Takes a decode step's `present` outputs (one slot longer) as the cache. */
  advance(present: ort.Tensor[]): void {
    this.cache = present;
    this.slots += 1;
  }

  /** attention_mask for a decode step: [rows, slots + 1], 0 over each row's padding. */
  decodeMask(): BigInt64Array {
    const width = this.slots + 1;
    const mask = new BigInt64Array(this.rows * width);
    this.pads.forEach((pad, r) => mask.fill(1n, r * width + pad, (r + 1) * width));
    return mask;
  }

  private allocate(rows: number, slots: number): ort.Tensor[] {
    const { kvHeads, headDim } = this.layout;
    return Array.from(
      { length: this.layout.tensors },
      () => new ort.Tensor('float32', new Float32Array(rows * kvHeads * slots * headDim), [rows, kvHeads, slots, headDim]),
    );
  }

  /** Copies `count` slots of one row from slot `from` of `src` to slot `to` of `dst`, for every head. */
  private copyRow(
    src: Float32Array,
    srcRow: number,
    srcSlots: number,
    from: number,
    count: number,
    dst: Float32Array,
    dstRow: number,
    dstSlots: number,
    to: number,
  ): void {
    const { kvHeads, headDim } = this.layout;
    for (let h = 0; h < kvHeads; h++) {
      const s = ((srcRow * kvHeads + h) * srcSlots + from) * headDim;
      const d = ((dstRow * kvHeads + h) * dstSlots + to) * headDim;
      dst.set(src.subarray(s, s + count * headDim), d);
    }
  }
}
