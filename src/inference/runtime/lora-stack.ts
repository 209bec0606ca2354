import * as ort from 'onnxruntime-node';

/** One module of a LoRA-input export: its input names and sizes (tuneloop-onnx.json `lora.modules`). */
export interface LoraModule {
  /** The module path, as in PEFT tensor names: `model.layers.0.self_attn.q_proj`. */
  module: string;
  in: number;
  out: number;
  /** Input names of its factors: [batch, in, rank] and [batch, rank, out]. */
  a: string;
  b: string;
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

/**
 * Builds the per-row factor inputs of one forward pass: every row's factors stacked on the
 * batch axis, zero-padded to the largest rank in the batch (at least 1), zeros for a row of
 * the base model. A pass with the same adapters in the same rows as a recent one reuses its
 * tensors, so a decode step costs no copy while the batch's membership holds.
 */
export class LoraStack {
  private readonly recent = new Map<string, Record<string, ort.Tensor>>();

  constructor(readonly layout: LoraLayout) {}

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
    this.layout.modules.forEach((m, i) => {
      const a = new Float32Array(batch * m.in * rank);
      const b = new Float32Array(batch * rank * m.out);
      rows.forEach((row, r) => {
        const ra = row?.a[i];
        const rb = row?.b[i];
        if (!row || !ra || !rb) return;
        const k = row.rank;
        if (k === rank) a.set(ra, r * m.in * rank);
        else for (let x = 0; x < m.in; x++) a.set(ra.subarray(x * k, (x + 1) * k), (r * m.in + x) * rank);
        b.set(rb, r * rank * m.out); // rows k…rank stay zero
      });
      feeds[m.a] = new ort.Tensor('float32', a, [batch, m.in, rank]);
      feeds[m.b] = new ort.Tensor('float32', b, [batch, rank, m.out]);
    });
    this.recent.set(id, feeds);
    if (this.recent.size > KEEP) this.recent.delete(this.recent.keys().next().value!);
    return feeds;
  }
}
