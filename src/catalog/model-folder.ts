import fs from 'node:fs/promises';
import path from 'node:path';
import { ModelTokenizer } from '../tokenizer/model-tokenizer.js';
import { isTokenizerError } from '../tokenizer/tokenizer-error.js';
import { readSafetensorsHeader } from './safetensors-header.js';
import type { TensorInfo } from './safetensors-header.js';

/** Architectures the trainer implements (trainer/tuneloop_trainer/models). */
export const SUPPORTED_ARCHITECTURES = ['llama', 'qwen2', 'mistral'] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

export interface ModelFolderInfo {
  architecture: Architecture;
  parameterCount: bigint;
  contextLength: number;
  vocabSize: number;
  tokenizerSha256: string;
  chatTemplateSha256: string | null;
  hasChatTemplate: boolean;
  files: string[];
}

/** A model folder that cannot be registered; the message says what is wrong and where. */
export class ModelFolderError extends Error {
  readonly code = 'INVALID_MODEL_FOLDER';
}

interface LlamaConfig {
  model_type?: string;
  hidden_size?: number;
  intermediate_size?: number;
  num_hidden_layers?: number;
  num_attention_heads?: number;
  num_key_value_heads?: number;
  head_dim?: number;
  vocab_size?: number;
  max_position_embeddings?: number;
  tie_word_embeddings?: boolean;
}

const DTYPE_OK = new Set(['F32', 'F16', 'BF16']);

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new ModelFolderError(`${path.basename(file)} is missing`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ModelFolderError(`${path.basename(file)} is not valid JSON: ${(err as Error).message}`);
  }
}

function positiveInt(config: LlamaConfig, key: keyof LlamaConfig): number {
  const value = config[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ModelFolderError(`config.json: "${key}" must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Tensor names and shapes a Llama-family checkpoint of this config must hold. */
function expectedTensors(arch: Architecture, c: Required<Omit<LlamaConfig, 'model_type'>>): Map<string, number[]> {
  const expected = new Map<string, number[]>();
  const kvDim = c.num_key_value_heads * c.head_dim;
  const qDim = c.num_attention_heads * c.head_dim;
  expected.set('model.embed_tokens.weight', [c.vocab_size, c.hidden_size]);
  expected.set('model.norm.weight', [c.hidden_size]);
  if (!c.tie_word_embeddings) expected.set('lm_head.weight', [c.vocab_size, c.hidden_size]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    expected.set(`${p}.self_attn.q_proj.weight`, [qDim, c.hidden_size]);
    expected.set(`${p}.self_attn.k_proj.weight`, [kvDim, c.hidden_size]);
    expected.set(`${p}.self_attn.v_proj.weight`, [kvDim, c.hidden_size]);
    expected.set(`${p}.self_attn.o_proj.weight`, [c.hidden_size, qDim]);
    if (arch === 'qwen2') {
      expected.set(`${p}.self_attn.q_proj.bias`, [qDim]);
      expected.set(`${p}.self_attn.k_proj.bias`, [kvDim]);
      expected.set(`${p}.self_attn.v_proj.bias`, [kvDim]);
    }
    expected.set(`${p}.mlp.gate_proj.weight`, [c.intermediate_size, c.hidden_size]);
    expected.set(`${p}.mlp.up_proj.weight`, [c.intermediate_size, c.hidden_size]);
    expected.set(`${p}.mlp.down_proj.weight`, [c.hidden_size, c.intermediate_size]);
    expected.set(`${p}.input_layernorm.weight`, [c.hidden_size]);
    expected.set(`${p}.post_attention_layernorm.weight`, [c.hidden_size]);
  }
  return expected;
}

async function readAllTensors(dir: string): Promise<Map<string, TensorInfo>> {
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  const single = path.join(dir, 'model.safetensors');
  const hasIndex = await fs.stat(indexFile).then(
    () => true,
    () => false,
  );
  if (!hasIndex) {
    const hasSingle = await fs.stat(single).then(
      () => true,
      () => false,
    );
    if (!hasSingle) throw new ModelFolderError('no weights: expected model.safetensors or model.safetensors.index.json');
    return readSafetensorsHeader(single).catch((err) => {
      throw new ModelFolderError((err as Error).message);
    });
  }
  const index = (await readJson(indexFile)) as { weight_map?: Record<string, string> };
  if (!index.weight_map || typeof index.weight_map !== 'object') {
    throw new ModelFolderError('model.safetensors.index.json has no "weight_map"');
  }
  const shards = new Set(Object.values(index.weight_map));
  const all = new Map<string, TensorInfo>();
  for (const shard of shards) {
    if (shard.includes('/') || shard.includes('\\')) throw new ModelFolderError(`shard name ${shard} must be a plain file name`);
    const tensors = await readSafetensorsHeader(path.join(dir, shard)).catch((err) => {
      throw new ModelFolderError(
        (err as NodeJS.ErrnoException).code === 'ENOENT' ? `shard ${shard} named in the index is missing` : (err as Error).message,
      );
    });
    for (const [name, info] of tensors) all.set(name, info);
  }
  for (const [name, shard] of Object.entries(index.weight_map)) {
    if (all.get(name)?.file !== path.join(dir, shard)) {
      throw new ModelFolderError(`tensor ${name} is not in ${shard} as the index says`);
    }
  }
  return all;
}

/**
 * Checks a Hugging Face–layout model folder the way the trainer will read it, and
 * describes it for the catalog. Throws ModelFolderError with one line saying what is wrong.
 */
export async function inspectModelFolder(dir: string): Promise<ModelFolderInfo> {
  const stat = await fs.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) throw new ModelFolderError('no such folder');
  const config = (await readJson(path.join(dir, 'config.json'))) as LlamaConfig;
  if (!config || typeof config !== 'object') throw new ModelFolderError('config.json must hold a JSON object');
  const arch = config.model_type as Architecture;
  if (!SUPPORTED_ARCHITECTURES.includes(arch)) {
    throw new ModelFolderError(
      `config.json: architecture "${config.model_type ?? '(none)'}" is not supported; supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`,
    );
  }
  const hidden = positiveInt(config, 'hidden_size');
  const heads = positiveInt(config, 'num_attention_heads');
  const resolved = {
    hidden_size: hidden,
    intermediate_size: positiveInt(config, 'intermediate_size'),
    num_hidden_layers: positiveInt(config, 'num_hidden_layers'),
    num_attention_heads: heads,
    num_key_value_heads: config.num_key_value_heads ?? heads,
    head_dim: config.head_dim ?? hidden / heads,
    vocab_size: positiveInt(config, 'vocab_size'),
    max_position_embeddings: positiveInt(config, 'max_position_embeddings'),
    tie_word_embeddings: config.tie_word_embeddings ?? arch === 'qwen2',
  };
  if (!Number.isInteger(resolved.head_dim)) throw new ModelFolderError('config.json: hidden_size is not a multiple of num_attention_heads');
  if (heads % resolved.num_key_value_heads !== 0) {
    throw new ModelFolderError('config.json: num_attention_heads must be a multiple of num_key_value_heads');
  }

  const tensors = await readAllTensors(dir);
  const expected = expectedTensors(arch, resolved);
  for (const [name, shape] of expected) {
    const found = tensors.get(name);
    if (!found) throw new ModelFolderError(`missing tensor ${name} (config.json implies it)`);
    if (found.shape.join('x') !== shape.join('x')) {
      throw new ModelFolderError(`tensor ${name} has shape [${found.shape}] but config.json implies [${shape}]`);
    }
    if (!DTYPE_OK.has(found.dtype)) throw new ModelFolderError(`tensor ${name} has dtype ${found.dtype}; supported: F32, F16, BF16`);
  }
  let parameterCount = 0n;
  for (const [name, info] of tensors) {
    if (name.endsWith('rotary_emb.inv_freq')) continue;
    parameterCount += info.shape.reduce((a, b) => a * BigInt(b), 1n);
  }

  // The loader training and inference use: a folder is checked the way it will be read.
  let tokenizer: ModelTokenizer;
  try {
    tokenizer = await ModelTokenizer.load(dir);
  } catch (err) {
    if (isTokenizerError(err)) throw new ModelFolderError(err.message);
    throw err;
  }
  return {
    architecture: arch,
    parameterCount,
    contextLength: resolved.max_position_embeddings,
    vocabSize: resolved.vocab_size,
    tokenizerSha256: tokenizer.tokenizerSha256,
    chatTemplateSha256: tokenizer.chatTemplateSha256,
    hasChatTemplate: tokenizer.hasChatTemplate,
    files: await fs.readdir(dir),
  };
}
