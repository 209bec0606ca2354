import * as ort from 'onnxruntime-node';
import type { OnnxModelInfo } from './onnx-info.js';
import { LoraStack } from './lora-stack.js';
import type { AdapterFactors } from './lora-stack.js';

export interface SessionChoice {
  /** Execution providers to try in order; `cpu` is always the last resort. */
  providers: readonly string[];
  /** Intra-op threads (the matmul thread pool). */
  threads: number;
}

/** One forward pass: `batch` rows of `seq` new tokens on top of a past of `past` slots. */
export interface ForwardInput {
  batch: number;
  seq: number;
  past: number;
  ids: BigInt64Array; // [batch, seq]
  positions: BigInt64Array; // [batch, seq]
  mask: BigInt64Array; // [batch, past + seq]; 0 = a padding slot
  cache: readonly ort.Tensor[]; // 2 × layers, each [batch, kvHeads, past, headDim]
  /** Each row's adapter (null: the base model); absent: the base model for every row. LoRA-input exports only. */
  adapters?: readonly (AdapterFactors | null)[];
}

export interface ForwardOutput {
  /** [batch, seq, vocab] */
  logits: Float32Array;
  /** 2 × layers, each [batch, kvHeads, past + seq, headDim]: the next step's `cache`. */
  present: ort.Tensor[];
}

/**
 * The exported decoder in an onnxruntime session. Session options were chosen with
 * bench/inference-throughput.ts (figures in docs/PERFORMANCE.md, "Inference runtime"):
 *  - all graph optimisations (faster than basic ones, idle and busy);
 *  - intra-op threads = cores, *without spinning*: a spinning pool waits for work by
 *    burning its cores — a little faster on an idle machine, but several times slower as
 *    soon as anything else runs (the api thread, other models, the trainer under
 *    `tuneloop start`);
 *  - sequential execution (the graph is a chain: an inter-op pool only adds wake-ups);
 *  - the CPU arena on, memory patterns off (every step has new shapes).
 * onnxruntime-node copies outputs into fresh JS arrays even when given preallocated ones
 * (checked), so preallocated KV buffers would save nothing: the cache is instead handed
 * from step to step with no copy on this side (kv-batch.ts).
 */
export class OnnxCausalLM {
  private readonly inputNames: string[];
  private readonly outputNames: string[];
  private readonly lora: LoraStack | undefined;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly info: OnnxModelInfo,
    /** The execution provider the session runs on. */
    readonly provider: string,
  ) {
    this.inputNames = ['input_ids', 'attention_mask', 'position_ids'];
    this.outputNames = ['logits'];
    for (let i = 0; i < info.numLayers; i++) {
      this.inputNames.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
      this.outputNames.push(`present.${i}.key`, `present.${i}.value`);
    }
    this.lora = info.lora ? new LoraStack(info.lora) : undefined;
    const wanted = [...this.inputNames, ...(info.lora?.modules.flatMap((m) => [m.a, m.b]) ?? [])];
    const missing = wanted.filter((n) => !session.inputNames.includes(n));
    if (missing.length) throw new Error(`the ONNX model lacks inputs ${missing.join(', ')} (is it a KV-cache export?)`);
  }

  static async load(onnxPath: string, info: OnnxModelInfo, choice: SessionChoice): Promise<OnnxCausalLM> {
    // Failures surface as exceptions (and a missing provider as a fallback the registry
    // logs); onnxruntime's own stderr lines about libraries it could not find are noise.
    ort.env.logLevel = 'fatal';
    const base: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: choice.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: true,
      enableMemPattern: false,
      logSeverityLevel: 3,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    };
    // onnxruntime drops a provider name it does not know without a word: only try known ones.
    const known = new Set(OnnxCausalLM.availableProviders());
    const wanted = choice.providers.filter((p) => p !== 'cpu' && known.has(p));
    for (const provider of wanted) {
      try {
        const session = await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: [provider, 'cpu'] });
        return new OnnxCausalLM(session, info, provider);
      } catch {
        // Not installed here (onnxruntime-node ships CPU only; CUDA needs its GPU build): next.
      }
    }
    const session = await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cpu'] });
    return new OnnxCausalLM(session, info, 'cpu');
  }

  /** The providers this onnxruntime build can load. */
  static availableProviders(): string[] {
    return ort.listSupportedBackends().map((b) => b.name);
  }

  /** An empty cache for `batch` rows. */
  emptyCache(batch: number): ort.Tensor[] {
    const { numLayers, numKvHeads, headDim } = this.info;
    return Array.from({ length: 2 * numLayers }, () => new ort.Tensor('float32', new Float32Array(0), [batch, numKvHeads, 0, headDim]));
  }

  async forward(input: ForwardInput): Promise<ForwardOutput> {
    const { batch, seq, past } = input;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', input.ids, [batch, seq]),
      attention_mask: new ort.Tensor('int64', input.mask, [batch, past + seq]),
      position_ids: new ort.Tensor('int64', input.positions, [batch, seq]),
    };
    for (let i = 0; i < input.cache.length; i++) feeds[this.inputNames[3 + i]!] = input.cache[i]!;
    if (this.lora) Object.assign(feeds, this.lora.feeds(input.adapters ?? new Array<null>(batch).fill(null)));
    else if (input.adapters?.some((a) => a !== null)) throw new Error('this model runtime takes no adapters');
    const out = await this.session.run(feeds);
    const present: ort.Tensor[] = [];
    for (let i = 1; i < this.outputNames.length; i++) present.push(out[this.outputNames[i]!]!);
    return { logits: out.logits!.data as Float32Array, present };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
