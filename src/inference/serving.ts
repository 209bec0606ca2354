import path from 'node:path';
import type { Db } from '../db/connect.js';
import type { Model } from '../db/schema.js';
import type { ServedAs } from '../db/tables/inference.js';
import { DomainError, InvalidInputError } from '../errors.js';
import { parseQuantization } from '../catalog/quantization.js';
import type { Quantization } from '../catalog/quantization.js';
import { AdapterError, readAdapterConfig } from './adapter-store.js';
import type { AdapterConfig } from './adapter-store.js';
import { canonicalTargets } from './onnx-export.js';

export const SERVED_AS = ['ADAPTER', 'MERGED'] as const;

/** How one model is served in this process. */
export type Serving =
  | {
      servedAs: 'ADAPTER';
      quantization: 'NONE';
      /** The model the adapter was trained on (its parent, else its base): its LoRA-input runtime is shared by all its adapters. */
      base: Model;
      adapterPath: string;
      adapter: AdapterConfig;
      /** `tiny@lora:q_proj+v_proj`: the shared runtime's key. */
      runtimeKey: string;
    }
  | { servedAs: 'MERGED'; quantization: Quantization; runtimeKey: string };

export interface ServingRequest {
  /** ADAPTER or MERGED; absent: ADAPTER for a LoRA fine-tune that can be, MERGED otherwise. */
  servedAs?: string | null | undefined;
  /** NONE, INT8, INT4; absent: the model's default (MERGED), NONE (ADAPTER). */
  quantization?: string | null | undefined;
}

/**
 * The quantization a model is served with: the one asked for, else the model's default
 * from the catalog (NONE unless an admin set one). Throws UNSUPPORTED_QUANTIZATION for
 * anything but NONE, INT8 and INT4.
 */
export function servedQuantization(model: Model, requested?: string | null): Quantization {
  return requested === undefined || requested === null ? model.default_quantization : parseQuantization(requested);
}

/** Runtimes are shared per model and quantization: `tiny`, `tiny@INT4`. */
export const runtimeKey = (modelId: string, quantization: Quantization) =>
  quantization === 'NONE' ? modelId : `${modelId}@${quantization}`;

/** A servedAs from untrusted input, or INVALID_INPUT naming the field. */
export function parseServedAs(value: unknown, field = 'servedAs'): ServedAs {
  if (typeof value === 'string' && (SERVED_AS as readonly string[]).includes(value)) return value as ServedAs;
  throw new InvalidInputError(field, `${field} must be one of ${SERVED_AS.join(', ')}, got ${JSON.stringify(value)}`);
}

/**
 * How a model is served — the one place that decides, for explicit deployments and for
 * any loading without one: a LoRA fine-tune is served as its adapter over its base model's
 * shared LoRA-input runtime unless MERGED or a quantization is asked for, its rank exceeds
 * `maxRank`, or its adapter cannot be read; everything else is served merged (its own
 * float32 or quantized export). Asking for ADAPTER where it cannot be answers
 * ADAPTER_UNAVAILABLE with the reason. The caller has checked the account may use `model`.
 */
export async function resolveServing(db: Db, model: Model, req: ServingRequest, limits: { maxRank: number }): Promise<Serving> {
  const wanted = req.servedAs == null ? undefined : parseServedAs(req.servedAs);
  const quantization = req.quantization == null ? undefined : parseQuantization(req.quantization);
  const merged = (): Serving => {
    const q = servedQuantization(model, quantization);
    return { servedAs: 'MERGED', quantization: q, runtimeKey: runtimeKey(model.id, q) };
  };
  if (wanted === 'MERGED') return merged();
  let why: string | undefined;
  let adapter: AdapterConfig | undefined;
  let base: Model | undefined;
  if (!model.adapter_path || !model.base_model_id) why = `model "${model.id}" is not a LoRA fine-tune`;
  else if (quantization !== undefined && quantization !== 'NONE')
    why = 'adapters are served over the float32 base model; ask for MERGED to quantize';
  else {
    try {
      adapter = await readAdapterConfig(model.adapter_path);
    } catch (err) {
      if (!(err instanceof AdapterError)) throw err;
      why = err.message;
    }
    if (adapter && adapter.rank > limits.maxRank) why = `its LoRA rank ${adapter.rank} exceeds the adapter rank limit (${limits.maxRank})`;
    // The weights the adapter was trained on: the model training continued from (a DPO or
    // continued job's parent), else the base. A checkpoint parent is no catalog row: merged.
    const on = model.parent_model_id ?? model.base_model_id;
    base = await db.selectFrom('models').selectAll().where('id', '=', on).executeTakeFirst();
    if (!base)
      why ??= model.parent_model_id ? `it was trained on top of ${on}, which is not a servable model` : 'its base model no longer exists';
  }
  if (why || !adapter || !base || !model.adapter_path) {
    if (wanted === 'ADAPTER') throw new DomainError('ADAPTER_UNAVAILABLE', `cannot serve "${model.id}" as an adapter: ${why}`, 409);
    return merged();
  }
  return {
    servedAs: 'ADAPTER',
    quantization: 'NONE',
    base,
    adapterPath: path.resolve(model.adapter_path),
    adapter,
    runtimeKey: `${base.id}@lora:${canonicalTargets(adapter.targets).join('+')}`,
  };
}
