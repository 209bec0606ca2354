import { InvalidInputError } from '../errors.js';
import type { TrainableWeights } from '../db/tables/training.js';
import { LORA_TARGETS } from '../training/lora-targets.js';

/**
 * A model's recommended training defaults: what "auto" hyperparameters start from
 * (docs/training.md, "How auto is decided"). Stored per model in the catalog
 * (`models.training_defaults`, only the values given at registration); what is not
 * stored comes from `IMPORTED_MODEL_DEFAULTS`.
 */
export interface TrainingDefaults {
  /** Peak supervised learning rate per trained weights (LORA, FULL); DPO derives its own from it. */
  learningRate: Record<TrainableWeights, number>;
  /**
   * Auto epochs: enough passes that training sees about `targetExamples` examples,
   * `clamp(ceil(targetExamples / examples), minEpochs, maxEpochs)`.
   */
  targetExamples: number;
  minEpochs: number;
  maxEpochs: number;
  /** Auto `loraRank` (capped at the model's hidden size). */
  loraRank: number;
  /** Auto `loraTargetModules`: module names, or `["all-linear"]`. */
  loraTargetModules: string[];
}

/** What a registration may give: any subset. */
export interface TrainingDefaultsInput {
  learningRate?: Partial<Record<TrainableWeights, number>>;
  targetExamples?: number;
  minEpochs?: number;
  maxEpochs?: number;
  loraRank?: number;
  loraTargetModules?: string[];
}

/**
 * Conservative defaults for a pre-trained model (a 7B Llama, Qwen or Mistral): the usual
 * LoRA / full fine-tuning rates, and about 100 examples seen in 1–10 epochs, so a small
 * dataset is adapted to, not memorised into a model that forgets what it knew.
 */
export const IMPORTED_MODEL_DEFAULTS: TrainingDefaults = {
  learningRate: { LORA: 2e-4, FULL: 2e-5 },
  targetExamples: 100,
  minEpochs: 1,
  maxEpochs: 10,
  loraRank: 8,
  loraTargetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
};

/**
 * Defaults for `models init-tiny`'s randomly initialised model. It knows no language, so a
 * small dataset counts as learned only once each answer is memorised: about 40 passes, at
 * 2e-3 for full fine-tuning; LoRA needs adapters on every linear layer with room to hold
 * the facts (rank 32) at 1e-3 — rank 8 on the attention projections alone memorises a
 * fraction of them. The sweep that chose these is in docs/training.md ("How auto is
 * decided"); test/training/auto-fit.test.ts checks both methods end to end.
 */
export const TINY_MODEL_DEFAULTS: TrainingDefaultsInput = {
  learningRate: { LORA: 1e-3, FULL: 2e-3 },
  targetExamples: 4000,
  minEpochs: 10,
  maxEpochs: 40,
  loraRank: 32,
  loraTargetModules: ['all-linear'],
};

const METHODS = Object.keys(IMPORTED_MODEL_DEFAULTS.learningRate);

function positiveRate(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new InvalidInputError(field, `${field} must be a finite number > 0 and ≤ 1`);
  }
  return value;
}

function count(value: unknown, field: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new InvalidInputError(field, `${field} must be an integer from 1 to ${max}`);
  }
  return value;
}

/** Module names from LORA_TARGETS, each once, or `["all-linear"]` alone. */
function targetModules(value: unknown): string[] {
  const field = 'trainingDefaults.loraTargetModules';
  const valid = [...LORA_TARGETS, 'all-linear'];
  if (!Array.isArray(value) || value.length === 0 || value.some((m) => typeof m !== 'string' || !valid.includes(m))) {
    throw new InvalidInputError(field, `${field} must be a non-empty list of ${valid.join(', ')}`);
  }
  if (new Set(value).size !== value.length) throw new InvalidInputError(field, `${field} names a module twice`);
  if (value.includes('all-linear') && value.length > 1) throw new InvalidInputError(field, `${field} takes "all-linear" alone`);
  return [...(value as string[])];
}

/** Checks a registration's defaults; returns what to store (only the values given). */
export function checkTrainingDefaults(input: TrainingDefaultsInput | null | undefined): TrainingDefaultsInput | null {
  if (!input) return null;
  const out: TrainingDefaultsInput = {};
  for (const [method, rate] of Object.entries(input.learningRate ?? {})) {
    if (!(METHODS as readonly string[]).includes(method)) {
      throw new InvalidInputError('trainingDefaults.learningRate', `unknown method ${JSON.stringify(method)}`);
    }
    out.learningRate = { ...out.learningRate, [method]: positiveRate(rate, `trainingDefaults.learningRate.${method}`) };
  }
  if (input.targetExamples !== undefined) out.targetExamples = count(input.targetExamples, 'trainingDefaults.targetExamples', 10_000_000);
  if (input.minEpochs !== undefined) out.minEpochs = count(input.minEpochs, 'trainingDefaults.minEpochs', 100);
  if (input.maxEpochs !== undefined) out.maxEpochs = count(input.maxEpochs, 'trainingDefaults.maxEpochs', 100);
  if (input.loraRank !== undefined) out.loraRank = count(input.loraRank, 'trainingDefaults.loraRank', 1024);
  if (input.loraTargetModules !== undefined) out.loraTargetModules = targetModules(input.loraTargetModules);
  const merged = effectiveTrainingDefaults(out);
  if (merged.minEpochs > merged.maxEpochs) {
    throw new InvalidInputError('trainingDefaults.minEpochs', `minEpochs (${merged.minEpochs}) exceeds maxEpochs (${merged.maxEpochs})`);
  }
  return Object.keys(out).length ? out : null;
}

/** The defaults a model trains with: what it stores, the rest from IMPORTED_MODEL_DEFAULTS. */
export function effectiveTrainingDefaults(stored: TrainingDefaultsInput | null | undefined): TrainingDefaults {
  const d = IMPORTED_MODEL_DEFAULTS;
  return {
    learningRate: { ...d.learningRate, ...stored?.learningRate },
    targetExamples: stored?.targetExamples ?? d.targetExamples,
    minEpochs: stored?.minEpochs ?? d.minEpochs,
    maxEpochs: stored?.maxEpochs ?? d.maxEpochs,
    loraRank: stored?.loraRank ?? d.loraRank,
    loraTargetModules: stored?.loraTargetModules ?? d.loraTargetModules,
  };
}
