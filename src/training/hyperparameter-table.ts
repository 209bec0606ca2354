import type { TrainableWeights, TrainingMethod } from '../db/tables/training.js';
import type { TrainingDefaults } from '../catalog/training-defaults.js';
import { booleanKind, enumKind, integerKind, listKind, numberKind } from './hyperparameter-kinds.js';
import type { Kind } from './hyperparameter-kinds.js';
import { autoBatchSize, autoEpochs, autoMaxSeqLength } from './auto-rules.js';
import { LORA_TARGETS } from './lora-targets.js';

/**
 * THE hyperparameter table: every hyperparameter a job takes, once. It drives the REST
 * body schema, the GraphQL input and output types, the TypeScript types, validation and
 * "auto" resolution (hyperparameters.ts), the trainer spec and its JSON Schema
 * (trainer/hyperparameters.schema.json) and the table in docs/training.md. Adding a
 * hyperparameter is one row here plus its use in the trainer (docs/CONVENTIONS.md says how).
 *
 * Rows are resolved in this order: an `auto` rule may read the values of rows above it.
 */

/** What "auto" is decided from. */
export interface DatasetShape {
  /** Examples (a preference dataset: pairs). */
  examples: number;
  /** A preference dataset: each pair is two sequences (chosen, rejected) in `tokensAt` and `maxTokens`. */
  pairs?: boolean;
  /** Longest example in tokens (for this model's tokenizer and template). */
  maxTokens: number;
  /** Σ min(length, L) for a candidate maximum sequence length L. */
  tokensAt(maxSeqLength: number): number;
}

export interface ModelShape {
  contextLength: number;
  hiddenSize?: number;
  /** The model's recommended training defaults (catalog). */
  defaults: TrainingDefaults;
}

export interface ResolveContext {
  method: TrainingMethod;
  /** The weights the job trains (a DPO job: LoRA adapters or all). */
  trainable: TrainableWeights;
  model: ModelShape;
  dataset: DatasetShape;
  hasValidation: boolean;
  /** The value of a row above this one (already decided). */
  value(name: string): unknown;
}

/** Where a value goes in the trainer's job spec (trainer/PROTOCOL.md § Job spec). */
export type SpecPath = readonly ['hyperparameters' | 'checkpoints', string];

interface RowOptions<T> {
  kind: Kind<T>;
  /** What it does (docs, GraphQL and OpenAPI descriptions). */
  doc: string;
  /** The range for the docs table, when the kind's own text is not the whole story. */
  range?: string;
  /** What "auto" decides (docs). */
  autoDoc: string;
  /** A rule on a value given by the client that needs the model, dataset or other values; returns what is wrong. */
  check?(value: T, c: ResolveContext): string | undefined;
  /** Where it goes in the trainer spec: `['hyperparameters', name]` unless set; null = platform only. */
  spec?: SpecPath | null;
  /** The trainer also accepts null for it, meaning this (a standalone spec may leave it to the trainer). */
  trainerNull?: string;
  /** What jobs resolved before this row existed ran with (they do not store it). */
  legacy?: T;
}

export interface Hyperparameter<T> extends RowOptions<NonNullable<T>> {
  /**
   * The methods it applies to (all when absent); for others it must be absent, null or
   * "auto" and resolves to null. LORA and FULL name the trained weights, so a LORA row
   * applies to a DPO job that trains LoRA adapters too; DPO names preference tuning.
   */
  methods?: readonly TrainingMethod[];
  /** Null is a value in its own right ("none"), not only "auto". */
  nullable: boolean;
  auto(c: ResolveContext): T;
}

function row<T>(
  o: RowOptions<T> & { nullable: true; methods?: readonly TrainingMethod[]; auto(c: ResolveContext): T | null },
): Hyperparameter<T | null>;
function row<T>(o: RowOptions<T> & { methods: readonly TrainingMethod[]; auto(c: ResolveContext): T }): Hyperparameter<T | null>;
function row<T>(o: RowOptions<T> & { auto(c: ResolveContext): T }): Hyperparameter<T>;
function row<T>(o: RowOptions<T> & { nullable?: boolean; methods?: readonly TrainingMethod[]; auto(c: ResolveContext): T | null }) {
  return { ...o, nullable: o.nullable ?? false };
}

/**
 * DPO's auto rate: the model's supervised rate for the same weights divided by this for the same weights: the
 * trainer's DPO defaults over its SFT defaults (trainer/PROTOCOL.md: 5e-5 vs 2e-4 LoRA,
 * 1e-6 vs 2e-5 full), so a model with its own rates keeps the same proportion.
 */
const DPO_RATE_DIVISOR: Record<TrainableWeights, number> = { LORA: 4, FULL: 20 };

export { LORA_TARGETS };
const needsValidation = (_v: unknown, c: ResolveContext) => (c.hasValidation ? undefined : 'needs a validationDataset');

export const HYPERPARAMETERS = {
  epochs: row({
    kind: integerKind({ min: 1, max: 100 }),
    doc: 'Passes over the training dataset.',
    autoDoc: "enough passes to see the model's `targetExamples`: `clamp(ceil(targetExamples / examples), minEpochs, maxEpochs)`",
    auto: (c) => autoEpochs(c.model.defaults, c.dataset.examples),
  }),
  learningRateMultiplier: row({
    kind: numberKind({ min: 0, max: 100, minOpen: true }),
    nullable: true,
    doc: 'Scales the "auto" learning rate (OpenAI\'s `learning_rate_multiplier`); not together with an explicit learningRate.',
    autoDoc: 'none (the auto learning rate as it is, i.e. × 1)',
    spec: null,
    auto: () => null,
  }),
  learningRate: row({
    kind: numberKind({ min: 0, max: 1, minOpen: true }),
    doc: 'Peak learning rate (after warmup).',
    autoDoc:
      "the model's rate for the trained weights (2e-4 LoRA, 2e-5 full for an imported model); DPO: a quarter of it for LoRA, a twentieth for full (5e-5, 1e-6 for an imported model); times learningRateMultiplier when set",
    trainerNull: 'the usual rate of the method: 2e-4 for lora, 2e-5 for full; dpo: 5e-5 (trainable lora), 1e-6 (trainable full)',
    check: (_v, c) =>
      c.value('learningRateMultiplier') !== null
        ? 'cannot be set together with learningRateMultiplier (which scales the auto rate)'
        : undefined,
    auto: (c) =>
      (c.model.defaults.learningRate[c.trainable] / (c.method === 'DPO' ? DPO_RATE_DIVISOR[c.trainable] : 1)) *
      ((c.value('learningRateMultiplier') as number | null) ?? 1),
  }),
  maxSeqLength: row({
    kind: integerKind({ min: 16, max: 1_048_576 }),
    doc: 'Examples are truncated to this many tokens (the dataset shows a warning).',
    range: "16–the model's context",
    autoDoc: 'the longest example rounded up to a power of two (≥ 64), capped at the context',
    check: (v, c) => (v > c.model.contextLength ? `must not exceed the model's context length (${c.model.contextLength})` : undefined),
    auto: (c) => autoMaxSeqLength(c.model.contextLength, c.dataset.maxTokens),
  }),
  batchSize: row({
    kind: integerKind({ min: 1, max: 1024 }),
    doc: 'Packed sequences (rows) per optimizer step; DPO: pairs per step.',
    autoDoc:
      '`clamp(floor(rows / 8), 1, 16)` with rows ≈ tokens / maxSeqLength (DPO: rows = pairs, never packed), so an epoch has ≥ 8 steps',
    auto: (c) => autoBatchSize(c.dataset, c.value('maxSeqLength') as number),
  }),
  microBatchSize: row({
    kind: integerKind({ min: 1, max: 1024 }),
    nullable: true,
    doc: 'Rows per forward pass; gradients are accumulated up to batchSize. Lower it when a job runs out of memory.',
    range: '1–batchSize',
    autoDoc: 'none: batchSize, split over the GPUs, without accumulation',
    check: (v, c) => (v > (c.value('batchSize') as number) ? `must not exceed batchSize (${c.value('batchSize') as number})` : undefined),
    auto: () => null,
  }),
  gradientCheckpointing: row({
    kind: booleanKind(),
    doc: 'Recompute each layer during the backward pass: less memory, about 30 % more compute.',
    autoDoc: 'false',
    legacy: false,
    auto: () => false,
  }),
  packing: row({
    kind: booleanKind(),
    doc: 'Several examples per sequence, attention kept within each.',
    autoDoc: 'true',
    auto: () => true,
  }),
  lrScheduler: row({
    kind: enumKind(['cosine', 'linear', 'constant']),
    doc: 'How the learning rate decays after warmup (to 0 at the last step).',
    autoDoc: 'cosine',
    auto: () => 'cosine' as const,
  }),
  warmupSteps: row({
    kind: integerKind({ min: 0, max: 1_000_000 }),
    nullable: true,
    doc: 'Linear warmup over this many steps.',
    autoDoc: 'none (warmupRatio applies)',
    auto: () => null,
  }),
  warmupRatio: row({
    kind: numberKind({ min: 0, max: 1, maxOpen: true }),
    nullable: true,
    doc: 'Linear warmup over this share of the steps; not together with warmupSteps.',
    autoDoc: '0.03 (3 % of the steps) unless warmupSteps is set',
    check: (_v, c) => (c.value('warmupSteps') !== null ? 'cannot be set together with warmupSteps' : undefined),
    auto: (c) => (c.value('warmupSteps') === null ? 0.03 : null),
  }),
  weightDecay: row({
    kind: numberKind({ min: 0, max: 1 }),
    doc: 'AdamW decoupled weight decay (matrices only).',
    autoDoc: '0',
    auto: () => 0,
  }),
  maxGradNorm: row({
    kind: numberKind({ min: 0, max: 1000 }),
    doc: 'Gradient-norm clipping; 0 = no clipping.',
    autoDoc: '1',
    auto: () => 1,
  }),
  seed: row({
    kind: integerKind({ min: 0, max: 2 ** 31 - 1 }),
    doc: 'Shuffling, LoRA initialisation and dropout.',
    range: '0–2³¹−1',
    autoDoc: '42',
    auto: () => 42,
  }),
  loraRank: row({
    kind: integerKind({ min: 1, max: 1024 }),
    methods: ['LORA'],
    doc: 'Rank of the LoRA adapters.',
    range: '1–min(1024, hidden size)',
    autoDoc: "the model's `trainingDefaults.loraRank` (8 for an imported model, 32 for the tiny one), at most its hidden size",
    check: (v, c) =>
      c.model.hiddenSize && v > c.model.hiddenSize ? `must not exceed the model's hidden size (${c.model.hiddenSize})` : undefined,
    auto: (c) => Math.min(c.model.defaults.loraRank, c.model.hiddenSize || c.model.defaults.loraRank),
  }),
  loraAlpha: row({
    kind: numberKind({ min: 0, max: 10_000, minOpen: true }),
    methods: ['LORA'],
    doc: 'LoRA scaling: the update is multiplied by alpha / rank.',
    autoDoc: '2 × loraRank',
    auto: (c) => 2 * (c.value('loraRank') as number),
  }),
  loraDropout: row({
    kind: numberKind({ min: 0, max: 1, maxOpen: true }),
    methods: ['LORA'],
    doc: 'Dropout on the adapter input.',
    autoDoc: '0.05',
    auto: () => 0.05,
  }),
  loraTargetModules: row({
    kind: listKind([...LORA_TARGETS, 'all-linear']),
    methods: ['LORA'],
    doc: 'The linear layers that get adapters; ["all-linear"] = all seven.',
    autoDoc:
      "the model's `trainingDefaults.loraTargetModules` (q_proj, k_proj, v_proj, o_proj for an imported model; all-linear for the tiny one)",
    check: (v) => (v.includes('all-linear') && v.length > 1 ? 'takes "all-linear" alone' : undefined),
    auto: (c): string[] => [...c.model.defaults.loraTargetModules],
  }),
  evalEvery: row({
    kind: integerKind({ min: 1, max: 1_000_000 }),
    nullable: true,
    doc: 'Also evaluate on the validation dataset every N steps (always at each epoch end).',
    range: '1–1,000,000 (needs a validation dataset)',
    autoDoc: 'none (evaluation at each epoch end only)',
    check: needsValidation,
    auto: () => null,
  }),
  earlyStoppingPatience: row({
    kind: integerKind({ min: 1, max: 1000 }),
    nullable: true,
    doc: 'Stop after this many evaluations without a new best validation loss.',
    range: '1–1000 (needs a validation dataset)',
    autoDoc: 'none',
    check: needsValidation,
    auto: () => null,
  }),
  evalBatchEvery: row({
    kind: integerKind({ min: 0, max: 1_000_000 }),
    nullable: true,
    doc: 'Also measure one validation batch every N steps (the `validLoss` of step events); 0 = never.',
    range: '0–1,000,000 (needs a validation dataset)',
    autoDoc: 'about 20 times per run (⌈steps / 20⌉) when there is a validation dataset',
    check: needsValidation,
    auto: () => null,
  }),
  beta: row({
    kind: numberKind({ min: 0, max: 2, minOpen: true }),
    methods: ['DPO'],
    doc: 'Preference tuning: how strongly the trained model is held to the reference model (the starting weights).',
    autoDoc: '0.1',
    auto: () => 0.1,
  }),
  checkpointEvery: row({
    kind: integerKind({ min: 1, max: 1_000_000 }),
    doc: 'Checkpoint every N steps (and at every epoch end); a job resumes from its newest checkpoint.',
    autoDoc: '50',
    spec: ['checkpoints', 'every'],
    auto: () => 50,
  }),
};

export type HyperparameterName = keyof typeof HYPERPARAMETERS;

/** Every row, in resolution order. */
export const HYPERPARAMETER_ROWS = Object.entries(HYPERPARAMETERS) as Array<[HyperparameterName, Hyperparameter<unknown>]>;

/** What the trainer runs with: every value decided (null where a row allows it or the method does not use it). */
export type ResolvedHyperparameters = {
  -readonly [K in HyperparameterName]: ReturnType<(typeof HYPERPARAMETERS)[K]['auto']>;
};

/** As a client sends them: every field optional; absent, null or "auto" lets Tuneloop decide. */
export type HyperparametersRequest = {
  [K in HyperparameterName]?: ResolvedHyperparameters[K] | 'auto' | null;
};

/** Where a row's value goes in the trainer spec (null: the platform keeps it). */
export function specPathOf(name: HyperparameterName): SpecPath | null {
  const spec = (HYPERPARAMETERS[name] as Hyperparameter<unknown>).spec;
  return spec === undefined ? ['hyperparameters', name] : spec;
}
