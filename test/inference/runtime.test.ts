/**
 * The runtime's parts on their own: sampling, stop sequences, streaming UTF-8, the
 * batched KV cache, and admission order. No database, no server; the tokenizer and the
 * ONNX model are the real trainer's.
 */
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sampler, argmax } from '../../src/inference/runtime/sampler.js';
import type { SamplingOptions } from '../../src/inference/runtime/sampler.js';
import { StopMatcher } from '../../src/inference/text/stop-matcher.js';
import { ModelTokenizer } from '../../src/tokenizer/model-tokenizer.js';
import { KvBatch } from '../../src/inference/runtime/kv-batch.js';
import { BatchScheduler } from '../../src/inference/runtime/scheduler.js';
import type { BatchModel } from '../../src/inference/runtime/scheduler.js';
import type { JobEvent } from '../../src/inference/runtime/protocol.js';
import { OnnxCausalLM } from '../../src/inference/runtime/onnx-causal-lm.js';
import { readOnnxInfo } from '../../src/inference/runtime/onnx-info.js';
import { onnxModelFolder } from '../helpers/inference.js';

const sampling = (o: Partial<SamplingOptions> = {}): SamplingOptions => ({
  temperature: 1,
  topP: 1,
  topK: 0,
  seed: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  logitBias: [],
  ...o,
});

describe('Sampler', () => {
  const logits = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i * 1.7) * 3);

  it('is greedy at temperature 0 (first index on ties)', () => {
    const s = new Sampler(sampling({ temperature: 0 }), 50);
    expect(s.sample(logits)).toBe(argmax(logits));
    expect(argmax(Float32Array.from([1, 3, 3, 2]))).toBe(1);
  });

  it('reproduces a sequence from a seed and varies with it', () => {
    const run = (seed: number) => {
      const s = new Sampler(sampling({ seed }), 50);
      return Array.from({ length: 40 }, () => s.sample(logits));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it('keeps only the top k, and only the nucleus of top_p', () => {
    const order = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]!);
    const k = new Sampler(sampling({ topK: 3, seed: 3 }), 50);
    const fromK = new Set(Array.from({ length: 300 }, () => k.sample(logits)));
    expect([...fromK].every((t) => order.slice(0, 3).includes(t))).toBe(true);
    const p = new Sampler(sampling({ topP: 0.0001, seed: 3 }), 50);
    expect(new Set(Array.from({ length: 50 }, () => p.sample(logits)))).toEqual(new Set([order[0]]));
  });

  it('applies logit bias and the frequency penalty', () => {
    const banned = new Sampler(sampling({ temperature: 0, logitBias: [[argmax(logits), -100]] }), 50);
    expect(banned.sample(logits)).not.toBe(argmax(logits));
    const flat = new Float32Array(4);
    const penalised = new Sampler(sampling({ temperature: 0, frequencyPenalty: 1 }), 4);
    expect([0, 1, 2, 3].map(() => penalised.sample(flat))).toEqual([0, 1, 2, 3]);
  });
});

describe('StopMatcher', () => {
  it('cuts the text before the first stop sequence, even one split over pieces', () => {
    const m = new StopMatcher(['END', '\n\n']);
    const out = ['Hello', ' wor', 'ld E', 'N', 'Dmore'].map((p) => m.push(p));
    expect(out.map((o) => o.text).join('')).toBe('Hello world ');
    expect(out.at(-1)?.stopped).toBe(true);
    expect(out.slice(0, -1).every((o) => !o.stopped)).toBe(true);
  });

  it('holds back a possible start and releases it when it does not continue', () => {
    const m = new StopMatcher(['END']);
    expect(m.push('abcE')).toEqual({ text: 'abc', stopped: false });
    expect(m.push('x')).toEqual({ text: 'Ex', stopped: false });
    expect(m.push('EN')).toEqual({ text: '', stopped: false });
    expect(m.flush()).toBe('EN');
  });
});

describe('streaming detokenization', () => {
  let tokenizer: ModelTokenizer;
  beforeAll(async () => {
    tokenizer = await ModelTokenizer.load(await onnxModelFolder());
  });

  it('never emits half a character, and the pieces join to the whole text', () => {
    const text = 'naïve café 🎉🚀 東京 — ok';
    const ids = Array.from(tokenizer.encode(text));
    const decoder = tokenizer.streamDecoder();
    const pieces = ids.map((id) => decoder.push(id));
    expect(pieces.join('') + decoder.flush()).toBe(text);
    expect(pieces.some((p) => p === '')).toBe(true); // some tokens end mid-character and are held back
    for (const piece of pieces) expect(piece).not.toContain('\uFFFD');
  });

  it('renders chats with the model template and knows its end-of-turn token', () => {
    expect(tokenizer.renderPrompt({ messages: [{ role: 'user', content: 'Hi' }] })).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(tokenizer.eosTokenIds).toContain(1023);
  });
});

describe('KvBatch with the real model', () => {
  let model: OnnxCausalLM;
  beforeAll(async () => {
    const dir = await onnxModelFolder();
    const onnx = `${dir}/onnx/model.onnx`;
    model = await OnnxCausalLM.load(onnx, await readOnnxInfo(onnx, dir), { providers: ['cpu'], threads: 1 });
  });
  afterAll(async () => model?.release());

  async function prefill(ids: number[]) {
    const out = await model.forward({
      batch: 1,
      seq: ids.length,
      past: 0,
      ids: BigInt64Array.from(ids.map(BigInt)),
      positions: BigInt64Array.from(ids.map((_, i) => BigInt(i))),
      mask: new BigInt64Array(ids.length).fill(1n),
      cache: model.emptyCache(1),
    });
    return { cache: out.present, last: argmax(out.logits.subarray((ids.length - 1) * 1024, ids.length * 1024)) };
  }

  async function greedyAlone(ids: number[], steps: number) {
    let { cache, last } = await prefill(ids);
    const out = [last];
    for (let i = 0; i < steps; i++) {
      const o = await model.forward({
        batch: 1,
        seq: 1,
        past: ids.length + i,
        ids: BigInt64Array.of(BigInt(last)),
        positions: BigInt64Array.of(BigInt(ids.length + i)),
        mask: new BigInt64Array(ids.length + i + 1).fill(1n),
        cache,
      });
      cache = o.present;
      last = argmax(o.logits);
      out.push(last);
    }
    return out;
  }

  it('decodes left-padded rows of different lengths exactly as each alone, across joins and leaves', async () => {
    const prompts = [
      [5, 6, 7, 8, 9, 10, 11, 12, 13],
      [300, 301],
      [77, 78, 79, 80, 81],
    ];
    const alone = await Promise.all(prompts.map((p) => greedyAlone(p, 8)));
    const kv = new KvBatch({ tensors: 8, kvHeads: 2, headDim: 32 });
    const rows: Array<{ k: number; out: number[] }> = [];
    const join = async (k: number) => {
      const { cache, last } = await prefill(prompts[k]!);
      kv.add(cache);
      rows.push({ k, out: [last] });
    };
    await join(0);
    await join(1);
    for (let step = 0; step < 8; step++) {
      if (step === 3) await join(2);
      if (step === 5) {
        kv.remove(new Set([0])); // the longest row leaves: the common padding is trimmed
        expect(rows.shift()!.out).toEqual(alone[0]!.slice(0, 6));
      }
      const out = await model.forward({
        batch: rows.length,
        seq: 1,
        past: kv.length,
        ids: BigInt64Array.from(rows.map((r) => BigInt(r.out.at(-1)!))),
        positions: BigInt64Array.from(rows.map((_, r) => BigInt(kv.tokens(r)))),
        mask: kv.decodeMask(),
        cache: kv.tensors,
      });
      kv.advance(out.present);
      rows.forEach((r, i) => r.out.push(argmax(out.logits.subarray(i * 1024, (i + 1) * 1024))));
    }
    expect(rows[0]!.out).toEqual(alone[1]);
    expect(rows[1]!.out).toEqual(alone[2]!.slice(0, 6));
  });
});

describe('BatchScheduler admission', () => {
  // A stand-in model: every pass predicts token 1; the cache has the right shapes.
  const info = { numLayers: 1, numKvHeads: 1, headDim: 2, vocabSize: 4, contextLength: 64, eosTokenIds: [3], slidingWindow: null };
  const stub: BatchModel = {
    info,
    emptyCache: (b) => [0, 1].map(() => new ort.Tensor('float32', new Float32Array(0), [b, 1, 0, 2])),
    async forward(input) {
      const total = input.past + input.seq;
      const logits = new Float32Array(input.batch * input.seq * 4);
      for (let i = 0; i < input.batch * input.seq; i++) logits[i * 4 + 1] = 5;
      const present = [0, 1].map(() => new ort.Tensor('float32', new Float32Array(input.batch * total * 2), [input.batch, 1, total, 2]));
      return { logits, present };
    },
  };

  it('runs one account’s flood and another’s single request in turn, not in arrival order', async () => {
    const order: string[] = [];
    const finished = new Promise<void>((resolve) => {
      const scheduler = new BatchScheduler(
        stub,
        { maxBatch: 1, prefillChunk: 8, eosTokenIds: [], streamDecoder: () => ({ push: () => 'x', flush: () => '' }) },
        (events: JobEvent[]) => {
          for (const e of events) if (e.type === 'done') order.push(e.id);
          if (order.length === 4) void scheduler.stop().then(resolve);
        },
      );
      const job = (id: string, accountId: string) => ({
        id,
        accountId,
        promptIds: [1, 2],
        maxTokens: 3,
        stop: [],
        sampling: sampling({ temperature: 0 }),
      });
      scheduler.submit(job('a1', 'A'));
      scheduler.submit(job('a2', 'A'));
      scheduler.submit(job('a3', 'A'));
      scheduler.submit(job('b1', 'B'));
    });
    await finished;
    // a1 runs first; while it runs, A has one running and B none, so b1 goes next.
    expect(order).toEqual(['a1', 'b1', 'a2', 'a3']);
  });
});
