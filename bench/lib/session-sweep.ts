/**
 * The runtime's session options against the alternatives, in this process: decode ms per
 * token at one request (interleaved rounds, medians). OnnxCausalLM's options were chosen
 * with it (see its comment).
 */
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { availableCores } from '../../src/config.js';
import { readOnnxInfo } from '../../src/inference/runtime/onnx-info.js';
import { argmax } from '../../src/inference/runtime/sampler.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** ms per decode step at one request for a set of session options (in this process). */
export async function sessionSweep(dir: string, rounds: number): Promise<Array<{ label: string; ms: number }>> {
  const onnxPath = path.join(dir, 'onnx', 'model.onnx');
  const info = await readOnnxInfo(onnxPath, dir);
  const cores = availableCores();
  const base = { executionMode: 'sequential', enableMemPattern: false } as const;
  const noSpin = { extra: { session: { intra_op: { allow_spinning: '0' } } } };
  const variants: Array<{ label: string; options: ort.InferenceSession.SessionOptions }> = [
    {
      label: `runtime: all optimisations, ${cores} threads, no spinning`,
      options: { ...base, graphOptimizationLevel: 'all', intraOpNumThreads: cores, ...noSpin },
    },
    {
      label: `basic optimisations, ${cores} threads, no spinning`,
      options: { ...base, graphOptimizationLevel: 'basic', intraOpNumThreads: cores, ...noSpin },
    },
    { label: 'all optimisations, 1 thread', options: { ...base, graphOptimizationLevel: 'all', intraOpNumThreads: 1, ...noSpin } },
    {
      label: `all optimisations, ${cores} threads, spinning`,
      options: { ...base, graphOptimizationLevel: 'all', intraOpNumThreads: cores },
    },
  ];
  const sessions = await Promise.all(variants.map((v) => ort.InferenceSession.create(onnxPath, v.options)));
  const i64 = (xs: number[]) => BigInt64Array.from(xs.map(BigInt));
  const steps = 32;
  const decode = async (session: ort.InferenceSession) => {
    const names = Array.from({ length: info.numLayers }, (_, i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]).flat();
    const feeds = (ids: number[], past: number, cache: ort.Tensor[]) => {
      const f: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', i64(ids), [1, ids.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(past + ids.length).fill(1n), [1, past + ids.length]),
        position_ids: new ort.Tensor('int64', i64(ids.map((_, i) => past + i)), [1, ids.length]),
      };
      names.forEach((n, i) => (f[n] = cache[i]!));
      return f;
    };
    const empty = names.map(() => new ort.Tensor('float32', new Float32Array(0), [1, info.numKvHeads, 0, info.headDim]));
    const prompt = Array.from({ length: 32 }, (_, i) => (i * 37) % info.vocabSize);
    let out = await session.run(feeds(prompt, 0, empty));
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) {
      const cache = names.map((_, i) => out[`present.${i >> 1}.${i % 2 ? 'value' : 'key'}`]!);
      const logits = out.logits!.data as Float32Array;
      out = await session.run(feeds([argmax(logits.subarray(logits.length - info.vocabSize))], prompt.length + s, cache));
    }
    return (performance.now() - t0) / steps;
  };
  const samples = variants.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) for (let v = 0; v < variants.length; v++) samples[v]!.push(await decode(sessions[v]!));
  await Promise.all(sessions.map((s) => s.release()));
  return variants.map((v, i) => ({ label: v.label, ms: median(samples[i]!) }));
}
