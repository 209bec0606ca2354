import type { TrainingDefaults } from '../catalog/training-defaults.js';
import type { DatasetShape } from './hyperparameter-table.js';

/**
 * The "auto" rules that need more than a constant (docs/training.md, "How auto is
 * decided"). They start from the model's training defaults (catalog) and the dataset's
 * size, so one rule fits a pre-trained 7B and a randomly initialised tiny model alike.
 */

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));
const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * Enough passes that training sees about `targetExamples` examples (a small dataset is
 * repeated, a large one seen once), within the model's `minEpochs`–`maxEpochs`.
 */
export function autoEpochs(defaults: TrainingDefaults, examples: number): number {
  return clamp(Math.ceil(defaults.targetExamples / Math.max(1, examples)), defaults.minEpochs, defaults.maxEpochs);
}

/** The longest example rounded up to a power of two (≥ 64), capped at the context: nothing is truncated that fits. */
export function autoMaxSeqLength(contextLength: number, maxTokens: number): number {
  return Math.min(contextLength, Math.max(64, nextPow2(maxTokens)));
}

/**
 * Packed rows (DPO: pairs) per step: at least 8 steps per epoch (small datasets need the updates more
 * than the averaging), at most 16 rows.
 */
export function autoBatchSize(dataset: DatasetShape, maxSeqLength: number): number {
  // Pairs are never packed: a DPO row is one pair.
  const rows = dataset.pairs ? dataset.examples : Math.max(1, Math.ceil(dataset.tokensAt(maxSeqLength) / maxSeqLength));
  return clamp(Math.floor(rows / 8), 1, 16);
}
