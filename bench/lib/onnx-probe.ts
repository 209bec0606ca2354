/**
 * An ONNX export measured in this process through the runtime's own session class
 * (OnnxCausalLM: the same session options, feeds and KV-cache hand-over as serving):
 * decode time per step at a batch of rows, and perplexity on a text.
 */
import { OnnxCausalLM } from '../../src/inference/runtime/onnx-causal-lm.js';
import type { ForwardOutput } from '../../src/inference/runtime/onnx-causal-lm.js';
import { readOnnxInfo } from '../../src/inference/runtime/onnx-info.js';
import { argmax } from '../../src/inference/runtime/sampler.js';

const i64 = (xs: ArrayLike<number>) => BigInt64Array.from(Array.from(xs, BigInt));

export async function loadProbe(onnxPath: string, modelDir: string, threads: number): Promise<OnnxCausalLM> {
  return OnnxCausalLM.load(onnxPath, await readOnnxInfo(onnxPath, modelDir), { providers: ['cpu'], threads });
}

/** One pass over `batch` rows of `seq` new tokens each (`ids` row-major) after `past` cached ones. */
function pass(lm: OnnxCausalLM, ids: number[], batch: number, past: number, cache: ForwardOutput['present'] | null) {
  const seq = ids.length / batch;
  return lm.forward({
    batch,
    seq,
    past,
    ids: i64(ids),
    positions: i64(ids.map((_, i) => past + (i % seq))),
    mask: new BigInt64Array(batch * (past + seq)).fill(1n),
    cache: cache ?? lm.emptyCache(batch),
  });
}

/** Each row's most likely next token after a pass. */
function nextTokens(lm: OnnxCausalLM, out: ForwardOutput, batch: number): number[] {
  const vocab = lm.info.vocabSize;
  const seq = out.logits.length / (batch * vocab);
  return Array.from({ length: batch }, (_, b) => argmax(out.logits.subarray((b * seq + seq - 1) * vocab, (b * seq + seq) * vocab)));
}

/**
 * Milliseconds per decode step of `batch` rows after a prompt of `promptLen` tokens each
 * (greedy, so every step's tokens depend on the last), over `steps` steps.
 */
export async function decodeMs(lm: OnnxCausalLM, batch: number, opts: { promptLen?: number; steps?: number } = {}): Promise<number> {
  const promptLen = opts.promptLen ?? 32;
  const steps = opts.steps ?? 32;
  const prompt = Array.from({ length: batch * promptLen }, (_, i) => (i * 37 + 11) % lm.info.vocabSize);
  let out = await pass(lm, prompt, batch, 0, null);
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) out = await pass(lm, nextTokens(lm, out, batch), batch, promptLen + s, out.present);
  return (performance.now() - t0) / steps;
}

/**
 * exp(mean negative log-likelihood) of every token of `ids` but the first of each window,
 * the text cut into windows of `window` tokens, each scored from an empty cache.
 */
export async function perplexity(lm: OnnxCausalLM, ids: readonly number[], window: number): Promise<number> {
  const vocab = lm.info.vocabSize;
  let nll = 0;
  let count = 0;
  for (let start = 0; start + 1 < ids.length; start += window) {
    const chunk = ids.slice(start, start + window);
    const out = await pass(lm, chunk, 1, 0, null);
    for (let t = 0; t + 1 < chunk.length; t++) {
      const row = out.logits.subarray(t * vocab, (t + 1) * vocab);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let sum = 0;
      for (const x of row) sum += Math.exp(x - max);
      nll += max + Math.log(sum) - row[chunk[t + 1]!]!;
      count++;
    }
  }
  return Math.exp(nll / count);
}

/** Greedy tokens from a prompt (one row), for agreement between precisions. */
export async function greedy(lm: OnnxCausalLM, prompt: readonly number[], tokens: number): Promise<number[]> {
  let out = await pass(lm, [...prompt], 1, 0, null);
  const made: number[] = [];
  for (let s = 0; s < tokens; s++) {
    const next = nextTokens(lm, out, 1);
    made.push(next[0]!);
    out = await pass(lm, next, 1, prompt.length + s, out.present);
  }
  return made;
}
