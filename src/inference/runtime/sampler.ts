import { Prng } from './prng.js';

/** How one request picks its tokens; validated upstream (params.ts). */
export interface SamplingOptions {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Nucleus: keep the smallest set of most likely tokens whose probability reaches this; 1 = off. */
  topP: number;
  /** Keep only the k most likely tokens; 0 = off. */
  topK: number;
  seed: number;
  /** OpenAI's penalties over the tokens generated so far: logit −= count·frequency + (count > 0)·presence. */
  presencePenalty: number;
  frequencyPenalty: number;
  /** Added to a token's logit before sampling (−100 bans it, +100 forces it in practice). */
  logitBias: ReadonlyArray<readonly [token: number, bias: number]>;
}

/**
 * Picks tokens for one request: penalties and bias, then greedy or temperature / top-k /
 * top-p sampling with the request's own seeded generator, so a seed reproduces a run.
 *
 * Candidates are sorted only when top-k or top-p needs an order (a full sort of a
 * large vocabulary is slow: docs/PERFORMANCE.md, "Why the code is shaped so"; the plain path
 * is two linear passes).
 */
export class Sampler {
  private readonly prng: Prng;
  private readonly counts = new Map<number, number>();
  private readonly adjusted: Float32Array | undefined;
  private readonly weights: Float64Array;
  private order: Uint32Array | undefined;

  constructor(
    private readonly options: SamplingOptions,
    private readonly vocabSize: number,
  ) {
    this.prng = new Prng(options.seed);
    const adjusts = options.logitBias.length > 0 || options.presencePenalty !== 0 || options.frequencyPenalty !== 0;
    this.adjusted = adjusts ? new Float32Array(vocabSize) : undefined;
    this.weights = new Float64Array(options.temperature > 0 ? vocabSize : 0);
  }

  /** The next token for the logits of one position (`logits` is read, never written). */
  sample(logits: Float32Array): number {
    const scores = this.adjust(logits);
    const token = this.options.temperature === 0 ? argmax(scores, this.vocabSize) : this.draw(scores);
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    return token;
  }

  private adjust(logits: Float32Array): Float32Array {
    const out = this.adjusted;
    if (!out) return logits;
    out.set(logits.subarray(0, this.vocabSize));
    const { presencePenalty, frequencyPenalty } = this.options;
    for (const [token, count] of this.counts) out[token]! -= count * frequencyPenalty + presencePenalty;
    for (const [token, bias] of this.options.logitBias) if (token < this.vocabSize) out[token]! += bias;
    return out;
  }

  private draw(scores: Float32Array): number {
    const { topK, topP, temperature } = this.options;
    const V = this.vocabSize;
    const invT = 1 / temperature;
    const w = this.weights;
    if (topK === 0 && topP >= 1) {
      let max = -Infinity;
      for (let i = 0; i < V; i++) if (scores[i]! > max) max = scores[i]!;
      let total = 0;
      for (let i = 0; i < V; i++) total += w[i] = Math.exp((scores[i]! - max) * invT);
      let r = this.prng.nextFloat() * total;
      for (let i = 0; i < V; i++) if ((r -= w[i]!) < 0) return i;
      return lastPositive(w, V);
    }
    // Candidates in descending score order (ties: lower id first, so runs are reproducible).
    const order = (this.order ??= new Uint32Array(V));
    for (let i = 0; i < V; i++) order[i] = i;
    order.sort((a, b) => scores[b]! - scores[a]! || a - b);
    const k = topK > 0 ? Math.min(topK, V) : V;
    const max = scores[order[0]!]!;
    let total = 0;
    for (let j = 0; j < k; j++) total += w[j] = Math.exp((scores[order[j]!]! - max) * invT);
    let n = k;
    if (topP < 1) {
      let cumulative = 0;
      for (let j = 0; j < k; j++) {
        cumulative += w[j]!;
        if (cumulative >= topP * total) {
          n = j + 1;
          break;
        }
      }
      total = 0;
      for (let j = 0; j < n; j++) total += w[j]!;
    }
    let r = this.prng.nextFloat() * total;
    for (let j = 0; j < n; j++) if ((r -= w[j]!) < 0) return order[j]!;
    return order[n - 1]!;
  }
}

/** Index of the largest value; the first one on ties (torch's argmax does the same on CPU). */
export function argmax(values: Float32Array, length = values.length): number {
  let best = 0;
  let max = values[0]!;
  for (let i = 1; i < length; i++) {
    if (values[i]! > max) {
      max = values[i]!;
      best = i;
    }
  }
  return best;
}

function lastPositive(w: Float64Array, n: number): number {
  for (let i = n - 1; i >= 0; i--) if (w[i]! > 0) return i;
  return 0;
}
