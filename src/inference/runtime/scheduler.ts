import type * as ort from 'onnxruntime-node';
import { KvBatch } from './kv-batch.js';
import { Sampler } from './sampler.js';
import type { ForwardInput, ForwardOutput } from './onnx-causal-lm.js';
import type { OnnxModelInfo } from './onnx-info.js';
import type { FinishReason, GenerationJob, JobEvent, TokenLogprob } from './protocol.js';
import { tokenLogprob } from './logprobs.js';
import { StopMatcher } from '../text/stop-matcher.js';
import type { StreamDecoder } from '../../tokenizer/stream-decoder.js';

/** What the scheduler needs of the model (OnnxCausalLM, or a stand-in in unit tests). */
export interface BatchModel {
  readonly info: OnnxModelInfo;
  emptyCache(batch: number): ort.Tensor[];
  forward(input: ForwardInput): Promise<ForwardOutput>;
}

export interface SchedulerOptions {
  /** Requests decoded together; the rest wait in arrival order (fair over accounts). */
  maxBatch: number;
  /** Prompt tokens per prefill pass while others are decoding (bounds their stall). */
  prefillChunk: number;
  /** Ids that end an answer besides the model's own (the tokenizer's eos). */
  eosTokenIds: readonly number[];
  streamDecoder(): StreamDecoder;
}

interface Active {
  job: GenerationJob;
  sampler: Sampler;
  decoder: StreamDecoder;
  stops: StopMatcher;
  cancelled: boolean;
  /** Prompt tokens already in `own` (prefill progress). */
  fed: number;
  own: readonly ort.Tensor[];
  /** The sampled token the next decode step feeds. */
  next: number;
  generated: number[];
  /** Log-probabilities of tokens whose text was not sent yet (when the job asks for them). */
  logprobs: TokenLogprob[];
}

/**
 * Continuous batching for one model. Each iteration:
 *  1. prefill: admitted prompts run through the model alone, in chunks of `prefillChunk`
 *     tokens while others are decoding (so a long prompt delays their next token by one
 *     chunk, not by the whole prompt); the last chunk's logits give the first token;
 *  2. decode: one step for every request in the batch at once — the weights are read
 *     once for all of them, which is where batching wins on a memory-bound CPU;
 *  3. finished and cancelled requests leave; waiting ones take their slots next round.
 * A request that joins or leaves costs one copy of the cache; a step costs none.
 */
export class BatchScheduler {
  private readonly waiting: Active[] = [];
  private prefilling: Active | undefined;
  private decoding: Active[] = [];
  private kv: KvBatch;
  private readonly eos: Set<number>;
  private pending: JobEvent[] = [];
  private readonly lastAdmitted = new Map<string, number>();
  private admissions = 0;
  private wake: (() => void) | undefined;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly model: BatchModel,
    private readonly options: SchedulerOptions,
    private readonly emit: (events: JobEvent[]) => void,
  ) {
    const { info } = model;
    this.kv = new KvBatch({ tensors: 2 * info.numLayers, kvHeads: info.numKvHeads, headDim: info.headDim });
    this.eos = new Set([...info.eosTokenIds, ...options.eosTokenIds]);
    this.loop = this.run();
  }

  submit(job: GenerationJob): void {
    this.waiting.push({
      job,
      sampler: new Sampler(job.sampling, this.model.info.vocabSize),
      decoder: this.options.streamDecoder(),
      stops: new StopMatcher(job.stop),
      cancelled: false,
      fed: 0,
      own: this.model.emptyCache(1),
      next: -1,
      generated: [],
      logprobs: [],
    });
    this.wake?.();
  }

  /** The request ends at the next step boundary with finish reason `cancelled`. */
  cancel(id: string): void {
    for (const a of [...this.waiting, ...this.decoding, ...(this.prefilling ? [this.prefilling] : [])]) {
      if (a.job.id === id) a.cancelled = true;
    }
    this.wake?.();
  }

  /** Cancels everything and waits for the loop to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.reapCancelled();
      if (!this.prefilling && this.decoding.length === 0 && this.waiting.length === 0) {
        this.flush();
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      try {
        await this.prefill();
        this.flush();
        await this.decodeStep();
      } catch (err) {
        this.failRunning(err);
      }
      this.flush();
      // onnxruntime-node runs a pass synchronously: yield so submit/cancel messages get in.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    for (const a of [...this.waiting, ...this.decoding, ...(this.prefilling ? [this.prefilling] : [])]) {
      this.finish(a, 'cancelled', '');
    }
    this.flush();
  }

  private async prefill(): Promise<void> {
    const vocab = this.model.info.vocabSize;
    // Nobody is waiting for a next token: prefill every admitted prompt before decoding.
    let budget = this.decoding.length > 0 ? this.options.prefillChunk : Number.POSITIVE_INFINITY;
    while (budget > 0) {
      if (!this.prefilling) {
        if (this.decoding.length >= this.options.maxBatch || this.waiting.length === 0) return;
        this.prefilling = this.admitNext();
      }
      const a = this.prefilling;
      const prompt = a.job.promptIds;
      const n = Math.min(budget, this.options.prefillChunk, prompt.length - a.fed);
      const ids = new BigInt64Array(n);
      const positions = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        ids[i] = BigInt(prompt[a.fed + i]!);
        positions[i] = BigInt(a.fed + i);
      }
      const out = await this.model.forward({
        batch: 1,
        seq: n,
        past: a.fed,
        ids,
        positions,
        mask: new BigInt64Array(a.fed + n).fill(1n),
        cache: a.own,
        ...(a.job.adapter ? { adapters: [a.job.adapter] } : {}),
      });
      a.own = out.present;
      a.fed += n;
      budget -= n;
      if (a.fed < prompt.length) continue;
      this.prefilling = undefined;
      if (a.cancelled) {
        this.finish(a, 'cancelled', '');
        continue;
      }
      const logits = out.logits.subarray((n - 1) * vocab, n * vocab);
      const token = a.sampler.sample(logits);
      if (this.accept(a, token, logits)) continue;
      this.kv.add(a.own);
      a.own = [];
      this.decoding.push(a);
    }
  }

  private async decodeStep(): Promise<void> {
    const rows = this.decoding;
    if (rows.length === 0) return;
    const vocab = this.model.info.vocabSize;
    const ids = new BigInt64Array(rows.length);
    const positions = new BigInt64Array(rows.length);
    rows.forEach((a, r) => {
      ids[r] = BigInt(a.next);
      positions[r] = BigInt(this.kv.tokens(r));
    });
    const out = await this.model.forward({
      batch: rows.length,
      seq: 1,
      past: this.kv.length,
      ids,
      positions,
      mask: this.kv.decodeMask(),
      cache: this.kv.tensors,
      // Rows of different adapters (and of the base) decode in this one pass.
      ...(rows.some((a) => a.job.adapter) ? { adapters: rows.map((a) => a.job.adapter ?? null) } : {}),
    });
    this.kv.advance(out.present);
    const finished = new Set<number>();
    rows.forEach((a, r) => {
      if (a.cancelled) {
        this.finish(a, 'cancelled', '');
        finished.add(r);
        return;
      }
      const logits = out.logits.subarray(r * vocab, (r + 1) * vocab);
      const token = a.sampler.sample(logits);
      if (this.accept(a, token, logits)) finished.add(r);
    });
    this.removeRows(finished);
  }

  /** Takes a sampled token; returns true when it ended the request. */
  private accept(a: Active, token: number, logits: Float32Array): boolean {
    a.generated.push(token);
    if (this.eos.has(token)) return this.end(a, 'stop');
    if (a.job.logprobs !== undefined) a.logprobs.push(tokenLogprob(logits, this.model.info.vocabSize, token, a.job.logprobs));
    const piece = a.stops.push(a.decoder.push(token));
    if (piece.text) this.pending.push({ type: 'text', id: a.job.id, text: piece.text, ...this.takeLogprobs(a) });
    if (piece.stopped) {
      this.finish(a, 'stop', '');
      return true;
    }
    const full = a.job.promptIds.length + a.generated.length >= this.model.info.contextLength;
    if (a.generated.length >= a.job.maxTokens || full) return this.end(a, 'length');
    a.next = token;
    return false;
  }

  /** Ends a request, releasing held-back text (which may still complete a stop sequence). */
  private end(a: Active, reason: FinishReason): true {
    const tail = a.stops.push(a.decoder.flush());
    if (tail.stopped) this.finish(a, 'stop', tail.text);
    else this.finish(a, reason, tail.text + a.stops.flush(), undefined, this.takeLogprobs(a));
    return true;
  }

  /**
   * The log-probabilities held for text sent now. Those of a stop sequence's tokens that
   * carried no text of the answer are dropped with it.
   */
  private takeLogprobs(a: Active): { logprobs?: TokenLogprob[] } {
    if (a.job.logprobs === undefined) return {};
    return { logprobs: a.logprobs.splice(0) };
  }

  private finish(a: Active, finishReason: FinishReason, text: string, error?: string, logprobs?: { logprobs?: TokenLogprob[] }): void {
    this.pending.push({
      type: 'done',
      id: a.job.id,
      finishReason,
      text,
      tokenIds: a.generated,
      ...logprobs,
      ...(error ? { error } : {}),
    });
  }

  /**
   * Round-robin over accounts: the waiting request whose account has the fewest running,
   * then the account served longest ago, then arrival order.
   */
  private admitNext(): Active {
    const running = new Map<string, number>();
    for (const a of this.decoding) running.set(a.job.accountId, (running.get(a.job.accountId) ?? 0) + 1);
    let best = 0;
    let bestKey = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    this.waiting.forEach((a, i) => {
      const key = [running.get(a.job.accountId) ?? 0, this.lastAdmitted.get(a.job.accountId) ?? 0];
      if (key[0]! < bestKey[0]! || (key[0] === bestKey[0] && key[1]! < bestKey[1]!)) {
        bestKey = key;
        best = i;
      }
    });
    const next = this.waiting.splice(best, 1)[0]!;
    this.lastAdmitted.set(next.job.accountId, ++this.admissions);
    return next;
  }

  private reapCancelled(): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      if (this.waiting[i]!.cancelled) this.finish(this.waiting.splice(i, 1)[0]!, 'cancelled', '');
    }
    if (this.prefilling?.cancelled) {
      this.finish(this.prefilling, 'cancelled', '');
      this.prefilling = undefined;
    }
    const gone = new Set<number>();
    this.decoding.forEach((a, r) => {
      if (a.cancelled) {
        this.finish(a, 'cancelled', '');
        gone.add(r);
      }
    });
    this.removeRows(gone);
  }

  private removeRows(rows: Set<number>): void {
    if (rows.size === 0) return;
    this.kv.remove(rows);
    this.decoding = this.decoding.filter((_, r) => !rows.has(r));
  }

  /** A failed pass fails the requests it carried; waiting ones still get their turn. */
  private failRunning(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    for (const a of [...this.decoding, ...(this.prefilling ? [this.prefilling] : [])]) this.finish(a, 'error', '', message);
    this.decoding = [];
    this.prefilling = undefined;
    const { info } = this.model;
    this.kv = new KvBatch({ tensors: 2 * info.numLayers, kvHeads: info.numKvHeads, headDim: info.headDim });
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    this.emit(events);
  }
}
