import { InvalidInputError } from '../errors.js';
import type { TrainingMethod } from '../db/tables/training.js';

/**
 * Hyperparameters as a client sends them: every field optional; `"auto"` (REST) or
 * absent/null (GraphQL and REST) lets the platform decide from the dataset.
 */
export interface HyperparametersRequest {
  epochs?: number | 'auto' | null;
  batchSize?: number | 'auto' | null;
  learningRate?: number | 'auto' | null;
  lrScheduler?: 'cosine' | 'linear' | 'constant' | null;
  warmupSteps?: number | null;
  warmupRatio?: number | null;
  weightDecay?: number | null;
  maxGradNorm?: number | null;
  seed?: number | null;
  maxSeqLength?: number | 'auto' | null;
  packing?: boolean | null;
  loraRank?: number | null;
  loraAlpha?: number | null;
  loraDropout?: number | null;
  loraTargetModules?: string[] | null;
  evalEvery?: number | null;
  earlyStoppingPatience?: number | null;
  checkpointEvery?: number | null;
}

/** What the trainer runs with: every value decided. */
export interface ResolvedHyperparameters {
  epochs: number;
  batchSize: number;
  learningRate: number;
  lrScheduler: 'cosine' | 'linear' | 'constant';
  warmupSteps: number | null;
  warmupRatio: number | null;
  weightDecay: number;
  maxGradNorm: number;
  seed: number;
  maxSeqLength: number;
  packing: boolean;
  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
  loraTargetModules: string[];
  evalEvery: number | null;
  earlyStoppingPatience: number | null;
  checkpointEvery: number;
}

/** What "auto" is decided from. */
export interface DatasetShape {
  examples: number;
  /** Longest example in tokens (for this model's tokenizer and template). */
  maxTokens: number;
  /** Σ min(length, L) for a candidate maximum sequence length L. */
  tokensAt(maxSeqLength: number): number;
}

export interface ModelShape {
  contextLength: number;
  hiddenSize?: number;
}

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

const bad = (field: string, message: string) =>
  new InvalidInputError(`hyperparameters.${field}`, `hyperparameters.${field} ${message}`, 'INVALID_HYPERPARAMETERS');

function int(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null || value === 'auto') return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function num(
  value: unknown,
  field: string,
  min: number,
  max: number,
  opts: { minOpen?: boolean; maxOpen?: boolean } = {},
): number | undefined {
  if (value === undefined || value === null || value === 'auto') return undefined;
  const tooLow = typeof value === 'number' && (opts.minOpen ? value <= min : value < min);
  const tooHigh = typeof value === 'number' && (opts.maxOpen ? value >= max : value > max);
  if (typeof value !== 'number' || !Number.isFinite(value) || tooLow || tooHigh) {
    throw bad(
      field,
      `must be a number ${opts.minOpen ? '>' : '≥'} ${min} and ${opts.maxOpen ? '<' : '≤'} ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * Validates the request against the model and dataset and decides every "auto" value.
 * The rules for "auto" (documented in docs/training.md):
 *
 * - maxSeqLength: the longest example rounded up to a power of two (≥ 64), capped at the
 *   model's context length — nothing is truncated unless an example exceeds the context.
 * - epochs: enough passes that a small dataset is seen ~100 times in examples, at most 10
 *   and at least 1: `clamp(ceil(100 / examples), 1, 10)`, and 3 for datasets of 34–99.
 * - batchSize (packed sequences per optimizer step): aims at ≥ 8 steps per epoch, at most 16:
 *   `clamp(floor(sequences / 8), 1, 16)` with sequences ≈ tokens / maxSeqLength.
 * - learningRate: 2e-4 for LoRA, 2e-5 for full fine-tuning.
 */
export function resolveHyperparameters(
  method: TrainingMethod,
  req: HyperparametersRequest | null | undefined,
  model: ModelShape,
  dataset: DatasetShape,
): ResolvedHyperparameters {
  const r = req ?? {};
  if (typeof r !== 'object' || Array.isArray(r)) throw bad('', 'must be an object');

  const maxSeqLength =
    int(r.maxSeqLength, 'maxSeqLength', 16, model.contextLength) ??
    Math.min(model.contextLength, Math.max(64, nextPow2(dataset.maxTokens)));
  const epochs =
    int(r.epochs, 'epochs', 1, 100) ??
    (dataset.examples >= 100 ? 1 : dataset.examples >= 34 ? 3 : Math.min(10, Math.max(1, Math.ceil(100 / dataset.examples))));
  const sequences = Math.max(1, Math.ceil(dataset.tokensAt(maxSeqLength) / maxSeqLength));
  const batchSize = int(r.batchSize, 'batchSize', 1, 1024) ?? Math.min(16, Math.max(1, Math.floor(sequences / 8)));
  const learningRate = num(r.learningRate, 'learningRate', 0, 1, { minOpen: true }) ?? (method === 'LORA' ? 2e-4 : 2e-5);
  const lrScheduler = r.lrScheduler ?? 'cosine';
  if (!['cosine', 'linear', 'constant'].includes(lrScheduler)) throw bad('lrScheduler', 'must be cosine, linear or constant');
  const warmupSteps = int(r.warmupSteps, 'warmupSteps', 0, 1_000_000) ?? null;
  const warmupRatio = num(r.warmupRatio, 'warmupRatio', 0, 1, { maxOpen: true }) ?? null;
  if (warmupSteps !== null && warmupRatio !== null) throw bad('warmupRatio', 'cannot be set together with warmupSteps');

  const loraRank = int(r.loraRank, 'loraRank', 1, 1024) ?? 8;
  if (method === 'LORA' && model.hiddenSize && loraRank > model.hiddenSize) {
    throw bad('loraRank', `must not exceed the model's hidden size (${model.hiddenSize}), got ${loraRank}`);
  }
  const loraTargetModules = r.loraTargetModules ?? ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
  if (!Array.isArray(loraTargetModules) || loraTargetModules.length === 0) throw bad('loraTargetModules', 'must be a non-empty list');
  for (const m of loraTargetModules) {
    if (!(LORA_TARGETS as readonly string[]).includes(m))
      throw bad('loraTargetModules', `has unknown module "${m}"; choose from ${LORA_TARGETS.join(', ')}`);
  }
  const evalEvery = int(r.evalEvery, 'evalEvery', 1, 1_000_000) ?? null;
  const earlyStoppingPatience = int(r.earlyStoppingPatience, 'earlyStoppingPatience', 1, 1000) ?? null;
  const packing = r.packing ?? true;
  if (typeof packing !== 'boolean') throw bad('packing', 'must be true or false');

  return {
    epochs,
    batchSize,
    learningRate,
    lrScheduler,
    warmupSteps,
    warmupRatio: warmupSteps === null && warmupRatio === null ? 0.03 : warmupRatio,
    weightDecay: num(r.weightDecay, 'weightDecay', 0, 1) ?? 0,
    maxGradNorm: num(r.maxGradNorm, 'maxGradNorm', 0, 1000) ?? 1,
    seed: int(r.seed, 'seed', 0, 2 ** 31 - 1) ?? 42,
    maxSeqLength,
    packing,
    loraRank,
    loraAlpha: num(r.loraAlpha, 'loraAlpha', 0, 10_000, { minOpen: true }) ?? loraRank * 2,
    loraDropout: num(r.loraDropout, 'loraDropout', 0, 1, { maxOpen: true }) ?? 0.05,
    loraTargetModules: [...loraTargetModules],
    evalEvery,
    earlyStoppingPatience,
    checkpointEvery: int(r.checkpointEvery, 'checkpointEvery', 1, 1_000_000) ?? 50,
  };
}

/** Tokens a run trains on: Σ min(length, maxSeqLength) × epochs (the trainer counts the same). */
export function billableTokens(dataset: DatasetShape, hp: Pick<ResolvedHyperparameters, 'maxSeqLength' | 'epochs'>): bigint {
  return BigInt(dataset.tokensAt(hp.maxSeqLength)) * BigInt(hp.epochs);
}

/** Cost in micro-USD of `tokens` at `pricePerMTokMicros` per 1M tokens, rounded up. */
export function tokenCost(tokens: bigint, pricePerMTokMicros: bigint): bigint {
  return (tokens * pricePerMTokMicros + 999_999n) / 1_000_000n;
}

/** The suffix rule of fine-tuned model names: ≤ 40 chars of [a-z0-9-]. */
export function validateSuffix(suffix: string | null | undefined): string | null {
  if (suffix === undefined || suffix === null || suffix === '') return null;
  if (!/^[a-z0-9-]{1,40}$/.test(suffix)) {
    throw new InvalidInputError('suffix', 'suffix must be 1–40 characters of a-z, 0-9 and "-"', 'INVALID_HYPERPARAMETERS');
  }
  return suffix;
}
