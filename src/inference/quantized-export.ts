import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Quantization } from '../catalog/quantization.js';
import { findPython, lastLine, runTrainerCommand } from '../engine/python.js';
import { ONNX_META_FILE } from './runtime/onnx-info.js';

/** One block-quantization recipe (the trainer's `quantize-onnx` options). */
export interface QuantRecipe {
  bits: 4 | 8;
  /** Weights per block along a layer's inputs; each block has its own scale. */
  blockSize: number;
  /** Symmetric blocks (no zero points) or blocks with a zero point each. */
  symmetric: boolean;
  /** onnxruntime's accuracy_level: 4 = activations quantized to int8 per block, integer dot products. */
  accuracyLevel: number;
  /** The LM head's bits (the largest single matrix of a big-vocabulary model); null keeps it float32. */
  lmHeadBits: 4 | 8 | null;
}

/**
 * The recipes deployments are served with, chosen with `bench/inference-throughput.ts
 * --recipes` on the `base` model trained on text (the trainer's quantize-onnx defaults are
 * the same). Why each, with the measurements: docs/inference.md, "The recipe, and what it
 * costs" — in short, INT4 takes blocks of 32 with zero points because they lost the least
 * perplexity at no measurable speed; INT8 takes symmetric blocks of 128, the smallest of
 * equally exact variants; accuracy level 4 (int8 activations), because level 0 was slower
 * than float32; and the LM head stays at 8 bits, the largest matrix of a real vocabulary.
 */
export const RECIPES: Record<Exclude<Quantization, 'NONE'>, QuantRecipe> = {
  INT8: { bits: 8, blockSize: 128, symmetric: true, accuracyLevel: 4, lmHeadBits: 8 },
  INT4: { bits: 4, blockSize: 32, symmetric: false, accuracyLevel: 4, lmHeadBits: 8 },
};

/** What a deployment loads: the ONNX file, and what its weights take on disk and in memory. */
export interface ServedExport {
  onnxPath: string;
  /** The ONNX files' size (model and external data). */
  bytesOnDisk: number;
  /**
   * The weight tensors of the graph, as the session holds them: onnxruntime repacks them
   * into its kernels' layouts (about the same size) and frees the originals, so this is
   * what a loaded model keeps in memory for its weights (RAM, or GPU memory on a GPU).
   * Recorded by the trainer, not measured: the process's resident memory grows by more on
   * the first load (onnxruntime's own start) and by less when freed memory is reused.
   */
  bytesInMemory: number;
}

/** A quantized export that cannot be made or used; `message` is what the deployment shows. */
export class QuantizedExportError extends Error {}

/** Quantizing the base model takes seconds; billions of parameters take minutes. */
const QUANTIZE_TIMEOUT_MS = 60 * 60_000;

/** The trainer's command-line options for a recipe. */
export function recipeArgs(recipe: QuantRecipe): string[] {
  return [
    '--bits',
    String(recipe.bits),
    '--block-size',
    String(recipe.blockSize),
    recipe.symmetric ? '--no-zero-point' : '--zero-point',
    '--accuracy-level',
    String(recipe.accuracyLevel),
    '--lm-head-bits',
    recipe.lmHeadBits === null ? 'none' : String(recipe.lmHeadBits),
  ];
}

/** `<model>/onnx/model.onnx` → `<model>/onnx-int4`: the quantized copy lives beside the fp32 export. */
export function quantizedDir(fp32OnnxPath: string, quantization: Exclude<Quantization, 'NONE'>): string {
  return `${path.dirname(fp32OnnxPath)}-${quantization.toLowerCase()}`;
}

interface ExportMeta {
  weight_bytes?: number;
  quantization?: {
    weightBytes?: number;
    bits?: number;
    block_size?: number;
    symmetric?: boolean;
    accuracy_level?: number;
    lm_head_bits?: number | null;
    source?: { bytes?: number };
    files?: Record<string, { bytes: number; sha256: string }>;
  };
}

async function readMeta(dir: string): Promise<ExportMeta | undefined> {
  const text = await fs.readFile(path.join(dir, ONNX_META_FILE), 'utf8').catch(() => null);
  try {
    return text === null ? undefined : (JSON.parse(text) as ExportMeta);
  } catch {
    return undefined;
  }
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Bytes of the ONNX files in a folder (the model and its external data; not the description). */
export async function onnxBytesOnDisk(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (entry.isFile() && entry.name !== ONNX_META_FILE) total += (await fs.stat(path.join(dir, entry.name))).size;
  }
  return total;
}

/**
 * The ONNX export a deployment serves. NONE: the fp32 export. INT8/INT4: a copy made once
 * by the trainer's `quantize-onnx` beside the fp32 export and reused by every later
 * deployment (of any account, in any process sharing the data folder). Before a copy is
 * used, its files are checked against the sizes and sha256 digests the trainer recorded:
 * a damaged copy is removed and refused with a clear reason (the next deployment makes it
 * again) rather than served. A copy made from another fp32 file or with another recipe is
 * made again. Concurrent calls for one model and quantization in a process share one run.
 */
export function createQuantizedExports(deps: { python: string | undefined }) {
  const running = new Map<string, Promise<ServedExport>>();
  /**
   * Files already hashed in this process, by digest, size, mtime and inode: restoring a
   * dozen deployments of one model hashes its copy once (a 7B model's INT4 file is ~4 GB,
   * seconds to hash), while a file written since is hashed again.
   */
  const verified = new Map<string, string>();

  /** Whether the copy in `dir` was made from `fp32` with `recipe`; throws when it is damaged. */
  async function usable(dir: string, fp32: string, recipe: QuantRecipe, quantization: Quantization): Promise<boolean> {
    const exists = await fs.stat(path.join(dir, ONNX_META_FILE)).then(
      () => true,
      () => false,
    );
    if (!exists) return false;
    const q = (await readMeta(dir))?.quantization;
    const sourceBytes = (await fs.stat(fp32)).size;
    if (!q?.files?.['model.onnx']) return damaged(dir, quantization, `${ONNX_META_FILE} is unreadable or incomplete`);
    const sameRecipe =
      q.bits === recipe.bits &&
      q.block_size === recipe.blockSize &&
      q.symmetric === recipe.symmetric &&
      q.accuracy_level === recipe.accuracyLevel &&
      (q.lm_head_bits ?? null) === recipe.lmHeadBits;
    if (!sameRecipe || q.source?.bytes !== sourceBytes) return false;
    for (const [name, want] of Object.entries(q.files)) {
      const file = path.join(dir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (!stat) return damaged(dir, quantization, `${name} is missing`);
      if (stat.size !== want.bytes) return damaged(dir, quantization, `${name} has ${stat.size} bytes instead of ${want.bytes}`);
      const version = `${want.sha256}|${stat.size}|${stat.mtimeMs}|${stat.ino}`;
      if (verified.get(file) === version) continue;
      if ((await sha256(file)) !== want.sha256) return damaged(dir, quantization, `${name} does not match its recorded sha256`);
      verified.set(file, version);
    }
    return true;
  }

  async function damaged(dir: string, quantization: Quantization, what: string): Promise<never> {
    await fs.rm(dir, { recursive: true, force: true });
    throw new QuantizedExportError(
      `the cached ${quantization} export ${dir} is damaged (${what}); it was removed and the next deployment makes it again`,
    );
  }

  async function quantize(fp32: string, dir: string, recipe: QuantRecipe): Promise<void> {
    let python: string;
    try {
      python = await findPython(deps.python);
    } catch (err) {
      throw new QuantizedExportError(`the quantized export cannot be made here: ${(err as Error).message}`);
    }
    const args = ['quantize-onnx', '--onnx', path.dirname(fp32), '--out', dir, ...recipeArgs(recipe)];
    const result = await runTrainerCommand(python, args, { timeoutMs: QUANTIZE_TIMEOUT_MS });
    if (result.code !== 0) {
      throw new QuantizedExportError(`quantizing the ONNX export failed: ${lastLine(result.stderr) || `exit code ${result.code}`}`);
    }
  }

  async function make(fp32: string, quantization: Exclude<Quantization, 'NONE'>): Promise<ServedExport> {
    const recipe = RECIPES[quantization];
    const dir = quantizedDir(fp32, quantization);
    if (!(await usable(dir, fp32, recipe, quantization))) {
      await quantize(fp32, dir, recipe);
      if (!(await usable(dir, fp32, recipe, quantization))) {
        throw new QuantizedExportError(`quantizing finished but ${dir} does not hold the expected ${quantization} export`);
      }
    }
    const meta = await readMeta(dir);
    return {
      onnxPath: path.join(dir, 'model.onnx'),
      bytesOnDisk: await onnxBytesOnDisk(dir),
      bytesInMemory: meta?.quantization?.weightBytes ?? 0,
    };
  }

  return {
    /**
     * The export to load for `quantization`, given the model's fp32 export (and its
     * parameter count, for an fp32 export that does not record its weight bytes);
     * throws QuantizedExportError.
     */
    async ensure(fp32OnnxPath: string, quantization: Quantization, parameterCount: number): Promise<ServedExport> {
      if (quantization === 'NONE') {
        const dir = path.dirname(fp32OnnxPath);
        return {
          onnxPath: fp32OnnxPath,
          bytesOnDisk: await onnxBytesOnDisk(dir),
          bytesInMemory: (await readMeta(dir))?.weight_bytes ?? parameterCount * 4,
        };
      }
      const key = `${fp32OnnxPath}|${quantization}`;
      let pending = running.get(key);
      if (!pending) {
        pending = make(fp32OnnxPath, quantization).finally(() => running.delete(key));
        running.set(key, pending);
      }
      return pending;
    },
  };
}

export type QuantizedExports = ReturnType<typeof createQuantizedExports>;
