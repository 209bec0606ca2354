import fs from 'node:fs/promises';
import path from 'node:path';
import type { LoraLayout } from './lora-stack.js';

/** What the runtime needs to know about an exported model (trainer PROTOCOL § ONNX). */
export interface OnnxModelInfo {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  contextLength: number;
  eosTokenIds: number[];
  /** Attention window of windowed layers (Mistral, some Qwen2), or null. */
  slidingWindow: number | null;
  /** A LoRA-input export's factor inputs (one session serves every adapter of the base); null otherwise. */
  lora?: LoraLayout | null;
}

/** The file the trainer writes beside model.onnx. */
export const ONNX_META_FILE = 'tuneloop-onnx.json';

/** An export that cannot be served; the message says what is wrong. */
export class OnnxModelError extends Error {}

/**
 * Reads `tuneloop-onnx.json` beside the model. An export made elsewhere without it is
 * described from the model folder's config.json instead (same fields, HF names).
 */
export async function readOnnxInfo(onnxPath: string, modelDir: string): Promise<OnnxModelInfo> {
  const metaText = await fs.readFile(path.join(path.dirname(onnxPath), ONNX_META_FILE), 'utf8').catch(() => null);
  if (metaText !== null) {
    const m = parse(metaText, ONNX_META_FILE);
    return checked({
      numLayers: m.num_layers,
      numKvHeads: m.num_kv_heads,
      headDim: m.head_dim,
      vocabSize: m.vocab_size,
      contextLength: m.context_length,
      eosTokenIds: ids(m.eos_token_id),
      slidingWindow: typeof m.sliding_window === 'number' ? m.sliding_window : null,
      lora: loraLayout(m.lora),
    });
  }
  const configText = await fs.readFile(path.join(modelDir, 'config.json'), 'utf8').catch(() => null);
  if (configText === null) throw new OnnxModelError(`neither ${ONNX_META_FILE} nor config.json describes the model`);
  const c = parse(configText, 'config.json');
  const heads = c.num_attention_heads;
  return checked({
    numLayers: c.num_hidden_layers,
    numKvHeads: c.num_key_value_heads ?? heads,
    headDim: c.head_dim ?? Number(c.hidden_size) / Number(heads),
    vocabSize: c.vocab_size,
    contextLength: c.max_position_embeddings,
    eosTokenIds: ids(c.eos_token_id),
    slidingWindow: c.model_type !== 'llama' && typeof c.sliding_window === 'number' ? c.sliding_window : null,
    lora: null,
  });
}

function parse(text: string, name: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new OnnxModelError(`${name} is not valid JSON`);
  }
}

function loraLayout(value: unknown): LoraLayout | null {
  if (value === undefined || value === null) return null;
  const v = value as Partial<LoraLayout>;
  const ok =
    Array.isArray(v.targets) &&
    Array.isArray(v.modules) &&
    v.modules.every(
      (m) =>
        typeof m.module === 'string' &&
        typeof m.a === 'string' &&
        typeof m.b === 'string' &&
        Number.isInteger(m.in) &&
        Number.isInteger(m.out),
    );
  if (!ok) throw new OnnxModelError(`${ONNX_META_FILE} has an invalid lora section`);
  return { targets: v.targets as string[], modules: v.modules as LoraLayout['modules'] };
}

function ids(value: unknown): number[] {
  return (Array.isArray(value) ? value : [value]).filter((v): v is number => Number.isInteger(v));
}

function checked(info: Record<keyof OnnxModelInfo, unknown>): OnnxModelInfo {
  for (const key of ['numLayers', 'numKvHeads', 'headDim', 'vocabSize', 'contextLength'] as const) {
    const v = info[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new OnnxModelError(`the model description has no valid ${key} (got ${JSON.stringify(v)})`);
    }
  }
  return info as unknown as OnnxModelInfo;
}
