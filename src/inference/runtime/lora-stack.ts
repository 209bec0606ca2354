import * as ort from 'onnxruntime-node';

/** One module of a LoRA-input export: its input names and sizes (tuneloop-onnx.json `lora.modules`). */
export interface LoraModule {
  /** The module path, as in PEFT tensor names: `model.layers.0.self_attn.q_proj`. */
  module: string;
  in: number;
  out: number;
  /**
   * Input names of its group's factors: [batch, in, slots × rank] and [batch, slots × rank,
   * groupOut]. The modules of one fused projection (q|k|v, gate|up) share them: each puts its
   * A in its slot's columns of A and its B in its slot's rows and its own output columns of B.
   */
  a: string;
  b: string;
  /** Its slot among its group's modules and their number (absent in format-1 exports: 0 of 1). */
  slot?: number;
  slots?: number;
  /** The column of its first output in the group's output, and the group's output width (absent: 0, `out`). */
  offset?: number;
  groupOut?: number;
}

/** The LoRA inputs of an export (trainer PROTOCOL § LoRA-input export). */
export interface LoraLayout {
  targets: string[];
  modules: LoraModule[];
}

/**
 * One adapter's factors as the graph takes them, per module of the layout (same order):
 * `a[m]` is A = lora_Aᵀ ([in, rank], row-major), `b[m]` is B = scaling · lora_Bᵀ ([rank,
 * out]); null where the adapter has no factors for the module (the base layer alone).
 * The arrays live on one SharedArrayBuffer: handing an adapter to the runtime thread
 * shares its memory, it copies nothing.
 */
export interface AdapterFactors {
  /** Identity of the adapter (its folder): rows with equal keys carry the same factors. */
  key: string;
  rank: number;
  a: (Float32Array | null)[];
  b: (Float32Array | null)[];
}

/** Stacked batches kept for reuse: decode steps repeat one membership until a row joins or leaves. */
const KEEP = 4;

/** One pair of factor inputs and the modules that fill it. */
interface Group {
  a: string;
  b: string;
  in: number;
  slots: number;
  out: number;
  members: { index: number; slot: number; offset: number; out: number }[];
}

function groupsOf(layout: LoraLayout): Group[] {
  const groups = new Map<string, Group>();
  layout.modules.forEach((m, index) => {
    let g = groups.get(m.a);
    if (!g) {
      g = { a: m.a, b: m.b, in: m.in, slots: m.slots ?? 1, out: m.groupOut ?? m.out, members: [] };
      groups.set(m.a, g);
    }
    g.members.push({ index, slot: m.slot ?? 0, offset: m.offset ?? 0, out: m.out });
  });
  return [...groups.values()];
}

/**
 * Builds the per-row factor inputs of one forward pass: every row's factors stacked on the
 * batch axis, each module's zero-padded to the largest rank in the batch (at least 1) in
 * its slot, zeros for a row of the base model. A pass with the same adapters in the same
 * rows as a recent one reuses its tensors, so a decode step costs no copy while the
 * batch's membership holds.
 */
export class LoraStack {
  private readonly recent = new Map<string, Record<string, ort.Tensor>>();
  private readonly groups: Group[];

  constructor(readonly layout: LoraLayout) {
    this.groups = groupsOf(layout);
  }

  feeds(rows: readonly (AdapterFactors | null)[]): Record<string, ort.Tensor> {
    const id = rows.map((r) => r?.key ?? '').join('\n');
    const hit = this.recent.get(id);
    if (hit) {
      this.recent.delete(id);
      this.recent.set(id, hit);
      return hit;
    }
    const batch = rows.length;
    const rank = Math.max(1, ...rows.map((r) => r?.rank ?? 0));
    const feeds: Record<string, ort.Tensor> = {};
    for (const g of this.groups) {
      const width = g.slots * rank; // the rank axis of this group's inputs
      const a = new Float32Array(batch * g.in * width);
      const b = new Float32Array(batch * width * g.out);
      rows.forEach((row, r) => {
        if (!row) return;
        const k = row.rank;
        for (const m of g.members) {
          const ra = row.a[m.index]; // [in, k]
          const rb = row.b[m.index]; // [k, out]
          if (!ra || !rb) continue;
          const col = m.slot * rank;
          for (let x = 0; x < g.in; x++) a.set(ra.subarray(x * k, (x + 1) * k), (r * g.in + x) * width + col);
          for (let j = 0; j < k; j++) b.set(rb.subarray(j * m.out, (j + 1) * m.out), (r * width + col + j) * g.out + m.offset);
        }
      });
      feeds[g.a] = new ort.Tensor('float32', a, [batch, g.in, width]);
      feeds[g.b] = new ort.Tensor('float32', b, [batch, width, g.out]);
    }
    this.recent.set(id, feeds);
    if (this.recent.size > KEEP) this.recent.delete(this.recent.keys().next().value!);
    return feeds;
  }
}
