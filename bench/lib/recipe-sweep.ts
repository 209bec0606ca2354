/**
 * Quantization recipes side by side, in this process: each made by the real trainer's
 * `quantize-onnx` from the same fp32 export, then measured through the runtime's session
 * class — decode ms per step at 1 and 8 rows (interleaved rounds, medians: the machine
 * may be shared), perplexity on a held-out text, and size. This is how RECIPES in
 * src/inference/quantized-export.ts were chosen (labels: b = block size, zp = zero points,
 * sym = symmetric, acc = accuracy level, head = LM-head bits; acc 4 and head 8 unless said).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TRAINER_DIR } from '../../src/engine/python.js';
import { RECIPES, recipeArgs } from '../../src/inference/quantized-export.js';
import type { QuantRecipe } from '../../src/inference/quantized-export.js';
import { decodeMs, loadProbe, perplexity } from './onnx-probe.js';

export interface RecipeFigures {
  label: string;
  bytes: number;
  ms1: number;
  ms8: number;
  perplexity: number;
}

const { INT4: int4, INT8: int8 } = RECIPES;

/** The served recipes (first of each width) and what they were chosen against. */
export const VARIANTS: Array<{ label: string; recipe: QuantRecipe }> = [
  { label: 'INT4 served: b32 zp', recipe: int4 },
  { label: 'int4 b32 sym', recipe: { ...int4, symmetric: true } },
  { label: 'int4 b128 zp', recipe: { ...int4, blockSize: 128 } },
  { label: 'int4 b128 sym', recipe: { ...int4, blockSize: 128, symmetric: true } },
  { label: 'int4 b32 zp acc0', recipe: { ...int4, accuracyLevel: 0 } },
  { label: 'int4 b32 zp head4', recipe: { ...int4, lmHeadBits: 4 } },
  { label: 'int4 b32 zp head32', recipe: { ...int4, lmHeadBits: null } },
  { label: 'INT8 served: b128 sym', recipe: int8 },
  { label: 'int8 b32 sym', recipe: { ...int8, blockSize: 32 } },
  { label: 'int8 b32 zp', recipe: { ...int8, blockSize: 32, symmetric: false } },
  { label: 'int8 b128 sym acc0', recipe: { ...int8, accuracyLevel: 0 } },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** Figures for fp32 (first) and every variant. */
export async function recipeSweep(opts: {
  python: string;
  fp32OnnxPath: string;
  modelDir: string;
  heldOut: number[];
  window: number;
  threads: number;
  rounds: number;
}): Promise<RecipeFigures[]> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuneloop-recipes-'));
  try {
    const files = [{ label: 'fp32', onnx: opts.fp32OnnxPath }];
    for (const [i, v] of VARIANTS.entries()) {
      const out = path.join(work, String(i));
      const r = spawnSync(
        opts.python,
        ['-m', 'tuneloop_trainer', 'quantize-onnx', '--onnx', path.dirname(opts.fp32OnnxPath), '--out', out, ...recipeArgs(v.recipe)],
        { cwd: TRAINER_DIR, env: { ...process.env, PYTHONPATH: TRAINER_DIR }, encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(`quantize-onnx (${v.label}) failed: ${r.stderr.trim().split('\n').at(-1)}`);
      files.push({ label: v.label, onnx: path.join(out, 'model.onnx') });
    }
    const figures: RecipeFigures[] = [];
    const samples = files.map(() => ({ ms1: [] as number[], ms8: [] as number[] }));
    // One session at a time (a 52M model's fp32 session holds ~400 MB), rounds interleaved.
    for (let round = 0; round < opts.rounds; round++) {
      for (const [i, f] of files.entries()) {
        const lm = await loadProbe(f.onnx, opts.modelDir, opts.threads);
        samples[i]!.ms1.push(await decodeMs(lm, 1));
        samples[i]!.ms8.push(await decodeMs(lm, 8));
        if (round === 0) {
          figures.push({
            label: f.label,
            bytes: fs.statSync(f.onnx).size,
            ms1: 0,
            ms8: 0,
            perplexity: await perplexity(lm, opts.heldOut, opts.window),
          });
        }
        await lm.release();
      }
    }
    for (const [i, f] of figures.entries()) {
      f.ms1 = median(samples[i]!.ms1);
      f.ms8 = median(samples[i]!.ms8);
    }
    return figures;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
