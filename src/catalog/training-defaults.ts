import { InvalidInputError } from '../errors.js';
import type { TrainableWeights } from '../db/tables/training.js';

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
}

/** What a registration may give: any subset. */
export interface TrainingDefaultsInput {
  learningRate?: Partial<Record<TrainableWeights, number>>;
  targetExamples?: number;
  minEpochs?: number;
  maxEpochs?: number;
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
};

/**
 * Defaults for `models init-tiny`'s randomly initialised model. It knows no language, so a
 * small dataset counts as learned only once each answer is memorised: about 40 passes at
 * 2e-3 (full fine-tuning). Measured with the trainer on made-up facts (answers exactly
 * right at temperature 0): at 2e-3, 15, 40 and 90 facts all 100 % after 40 passes (final
 * loss ≈ 0.005) and after 60 (≈ 0.0015); at 3e-3, 40 facts 35 % after 30 passes and 92 %
 * after 60 (loss spikes); 4e-3 and above diverged. test/training/auto-fit.test.ts checks
 * it end to end. LoRA on random weights learns far less (15 facts, 60 passes: 40 % at
 * 3e-3, nothing at 1e-2): fine-tune this model with FULL.
 */
export const TINY_MODEL_DEFAULTS: TrainingDefaultsInput = {
  learningRate: { LORA: 3e-3, FULL: 2e-3 },
  targetExamples: 4000,
  minEpochs: 10,
  maxEpochs: 40,
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
  };
}
