import fs from 'node:fs/promises';
import path from 'node:path';
import type { CatalogService } from '../catalog/service.js';
import type { Model } from '../db/schema.js';
import type { CheckpointModel } from '../catalog/checkpoint-models.js';
import { LORA_TARGETS } from '../training/hyperparameter-table.js';
import { findPython, lastLine, runTrainerCommand } from '../engine/python.js';

/** Targets in the order of a LoRA-input graph's inputs (the hyperparameter table's order), `all-linear` spelled out; unknown names are kept (the export refuses them). */
export function canonicalTargets(targets: readonly string[]): string[] {
  if (targets.includes('all-linear')) return [...LORA_TARGETS];
  const known = LORA_TARGETS.filter((t) => targets.includes(t));
  return [...known, ...targets.filter((t) => !(LORA_TARGETS as readonly string[]).includes(t)).sort()];
}

/** `onnx-lora-q_proj+v_proj`: the LoRA-input export's folder in the base model's folder. */
export const loraExportDir = (targets: readonly string[]) => `onnx-lora-${canonicalTargets(targets).join('+')}`;

/** Exports take seconds for small models and minutes for billions of parameters. */
const EXPORT_TIMEOUT_MS = 60 * 60_000;

const exists = (file: string) =>
  fs.stat(file).then(
    (s) => s.isFile(),
    () => false,
  );

/**
 * The model's ONNX export, made on first use when the model has none (an imported base
 * model): the trainer's `export-onnx` writes `<model folder>/onnx/` (atomically: a temp
 * folder renamed into place) and the path is kept in the catalog for every later deploy.
 * Concurrent calls for one model in a process share one export.
 */
export function createOnnxExporter(deps: { catalog: Pick<CatalogService, 'recordOnnxExport'>; python: string | undefined }) {
  const running = new Map<string, Promise<string>>();

  async function exportModel(model: Model): Promise<string> {
    const target = path.join(model.storage_path, 'onnx', 'model.onnx');
    if (!(await exists(target))) {
      let python: string;
      try {
        python = await findPython(deps.python); // not resolvePython: the api's event loop must not stall
      } catch (err) {
        throw new Error(`the model has no ONNX export and it cannot be made here: ${(err as Error).message}`);
      }
      const result = await runTrainerCommand(python, ['export-onnx', '--model', model.storage_path], { timeoutMs: EXPORT_TIMEOUT_MS });
      if (result.code !== 0) throw new Error(`ONNX export failed: ${lastLine(result.stderr) || `exit code ${result.code}`}`);
      if (!(await exists(target))) throw new Error(`ONNX export finished but ${target} is missing`);
    }
    if (model.onnx_path !== target) await deps.catalog.recordOnnxExport(model.id, target);
    return target;
  }

  async function exportCheckpoint(checkpoint: CheckpointModel, base: Model): Promise<string> {
    const out = path.join(checkpoint.path, 'onnx');
    const target = path.join(out, 'model.onnx');
    if (await exists(target)) return target;
    let python: string;
    try {
      python = await findPython(deps.python);
    } catch (err) {
      throw new Error(`the checkpoint has no ONNX export and it cannot be made here: ${(err as Error).message}`);
    }
    // A LoRA checkpoint holds the adapter only: it is merged into the job's base weights.
    // A full checkpoint holds every weight. Config and tokenizer are the base model's.
    const lora = await exists(path.join(checkpoint.path, 'adapter.safetensors'));
    const args = ['export-onnx', '--model', base.storage_path, '--out', out, lora ? '--adapter' : '--weights', checkpoint.path];
    const result = await runTrainerCommand(python, args, { timeoutMs: EXPORT_TIMEOUT_MS });
    if (result.code !== 0)
      throw new Error(`ONNX export of the checkpoint failed: ${lastLine(result.stderr) || `exit code ${result.code}`}`);
    if (!(await exists(target))) throw new Error(`ONNX export finished but ${target} is missing`);
    return target;
  }

  async function exportLora(model: Model, targets: readonly string[]): Promise<string> {
    const dir = path.join(model.storage_path, loraExportDir(targets));
    const target = path.join(dir, 'model.onnx');
    if (await exists(target)) return target;
    let python: string;
    try {
      python = await findPython(deps.python);
    } catch (err) {
      throw new Error(`the base model has no LoRA-input export and it cannot be made here: ${(err as Error).message}`);
    }
    const args = ['export-onnx', '--model', model.storage_path, '--lora-targets', canonicalTargets(targets).join(',')];
    const result = await runTrainerCommand(python, args, { timeoutMs: EXPORT_TIMEOUT_MS });
    if (result.code !== 0) throw new Error(`LoRA-input ONNX export failed: ${lastLine(result.stderr) || `exit code ${result.code}`}`);
    if (!(await exists(target))) throw new Error(`LoRA-input ONNX export finished but ${target} is missing`);
    return target;
  }

  return {
    /**
     * Path of the base model's LoRA-input export for these target modules
     * (`<model>/onnx-lora-q_proj+v_proj/model.onnx`, beside the fp32 export), made on first
     * use: one graph that serves every LoRA fine-tune of the base with those targets.
     */
    ensureLora(model: Model, targets: readonly string[]): Promise<string> {
      const key = `lora:${model.id}:${canonicalTargets(targets).join(',')}`;
      let pending = running.get(key);
      if (!pending) {
        pending = exportLora(model, targets).finally(() => running.delete(key));
        running.set(key, pending);
      }
      return pending;
    },

    /**
     * Path of a checkpoint's model.onnx (`<checkpoint folder>/onnx/`, so it goes when the
     * trainer rotates the checkpoint out), exporting it first when needed: the base
     * model's folder with the checkpoint's weights (full) or adapter merged in (LoRA).
     * Concurrent calls for one checkpoint share one export.
     */
    async ensureCheckpoint(checkpoint: CheckpointModel, base: Model): Promise<string> {
      const key = `checkpoint:${checkpoint.path}`;
      let pending = running.get(key);
      if (!pending) {
        pending = exportCheckpoint(checkpoint, base).finally(() => running.delete(key));
        running.set(key, pending);
      }
      return pending;
    },

    /** Path of the model's model.onnx, exporting it first when needed. */
    async ensure(model: Model): Promise<string> {
      if (model.onnx_path && (await exists(model.onnx_path))) return model.onnx_path;
      let pending = running.get(model.id);
      if (!pending) {
        pending = exportModel(model).finally(() => running.delete(model.id));
        running.set(model.id, pending);
      }
      return pending;
    },
  };
}

export type OnnxExporter = ReturnType<typeof createOnnxExporter>;
