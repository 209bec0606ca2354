import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { hyperparametersMarkdownTable, trainerHyperparametersSchema } from '../../src/training/hyperparameter-schemas.js';
import { TRAINER_SCHEMA_PATH, TRAINING_DOC_PATH, withDocTable } from '../../src/training/write-hyperparameter-files.js';
import { checkHyperparameters, resolveHyperparameters, trainerSpecParts } from '../../src/training/hyperparameters.js';
import type { DatasetShape } from '../../src/training/hyperparameters.js';
import { HYPERPARAMETER_ROWS } from '../../src/training/hyperparameter-table.js';
import { IMPORTED_MODEL_DEFAULTS, TINY_MODEL_DEFAULTS, effectiveTrainingDefaults } from '../../src/catalog/training-defaults.js';

/** The files generated from the hyperparameter table are committed: they must not drift from it. */
describe('hyperparameter table', () => {
  it('trainer/hyperparameters.schema.json is what the table generates (npm run generate:hyperparameters)', async () => {
    const committed = JSON.parse(await fs.readFile(TRAINER_SCHEMA_PATH, 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(trainerHyperparametersSchema())));
  });

  it("docs/training.md's table is what the table generates (npm run generate:hyperparameters)", async () => {
    const doc = await fs.readFile(TRAINING_DOC_PATH, 'utf8');
    expect(doc).toBe(withDocTable(doc, hyperparametersMarkdownTable()));
    for (const [name] of HYPERPARAMETER_ROWS) expect(doc).toContain(`| \`${name}\``);
  });
});

/** A dataset of `examples` examples of `length` tokens each. */
const dataset = (examples: number, length = 30): DatasetShape => ({
  examples,
  maxTokens: length,
  tokensAt: (limit) => examples * Math.min(length, limit),
});
const imported = { contextLength: 512, hiddenSize: 256, defaults: IMPORTED_MODEL_DEFAULTS };
const tiny = { contextLength: 512, hiddenSize: 256, defaults: effectiveTrainingDefaults(TINY_MODEL_DEFAULTS) };

describe('resolving hyperparameters', () => {
  it('auto epochs and learning rate follow the model: conservative for an imported model, many passes for the tiny one', () => {
    const lora = (model: typeof imported, examples: number) =>
      resolveHyperparameters('LORA', {}, model, dataset(examples), { hasValidation: false });
    const full = (model: typeof imported, examples: number) =>
      resolveHyperparameters('FULL', {}, model, dataset(examples), { hasValidation: false });
    expect([12, 50, 100, 5000].map((n) => full(imported, n).epochs)).toEqual([9, 2, 1, 1]);
    expect(lora(imported, 12).learningRate).toBe(2e-4);
    expect(full(imported, 12).learningRate).toBe(2e-5);
    expect([15, 40, 90, 200, 5000].map((n) => full(tiny, n).epochs)).toEqual([40, 40, 40, 20, 10]);
    expect(full(tiny, 15).learningRate).toBe(2e-3);
  });

  it("auto LoRA rank, target modules and rate follow the model's defaults, the rank capped at its hidden size", () => {
    const lora = (model: typeof imported, given: Record<string, unknown> = {}) =>
      resolveHyperparameters('LORA', given, model, dataset(15), { hasValidation: false });
    expect(lora(imported)).toMatchObject({ loraRank: 8, loraAlpha: 16, loraTargetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
    expect(lora(tiny)).toMatchObject({ learningRate: 1e-3, loraRank: 32, loraAlpha: 64, loraTargetModules: ['all-linear'] });
    // What the client gives wins over the model's defaults.
    expect(lora(tiny, { loraRank: 4, loraTargetModules: ['q_proj'] })).toMatchObject({ loraRank: 4, loraTargetModules: ['q_proj'] });
    const narrow = { ...tiny, hiddenSize: 16 };
    expect(lora(narrow).loraRank).toBe(16);
  });

  it('keeps what the client gave, decides the rest, and gives null to what the method does not use', () => {
    const hp = resolveHyperparameters('FULL', { epochs: 4, warmupSteps: 0, packing: false, loraRank: 'auto' }, imported, dataset(40), {
      hasValidation: false,
    });
    expect(hp).toMatchObject({ epochs: 4, warmupSteps: 0, warmupRatio: null, packing: false, loraRank: null, loraAlpha: null });
    expect(hp).toMatchObject({ maxSeqLength: 64, batchSize: 2, microBatchSize: null, gradientCheckpointing: false, checkpointEvery: 50 });
    const lora = resolveHyperparameters('LORA', { loraRank: 16 }, imported, dataset(40), { hasValidation: false });
    expect(lora).toMatchObject({
      loraRank: 16,
      loraAlpha: 32,
      warmupRatio: 0.03,
      loraTargetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    });
  });

  it('checks the rules that need the model, the dataset or other values', () => {
    const resolve =
      (raw: object, hasValidation = false) =>
      () =>
        resolveHyperparameters('LORA', raw, imported, dataset(40), { hasValidation });
    expect(resolve({ maxSeqLength: 1024 })).toThrow("hyperparameters.maxSeqLength must not exceed the model's context length (512)");
    expect(resolve({ loraRank: 512 })).toThrow("hyperparameters.loraRank must not exceed the model's hidden size (256)");
    expect(resolve({ warmupSteps: 3, warmupRatio: 0.1 })).toThrow('hyperparameters.warmupRatio cannot be set together with warmupSteps');
    expect(resolve({ batchSize: 4, microBatchSize: 8 })).toThrow('hyperparameters.microBatchSize must not exceed batchSize (4)');
    expect(resolve({ evalEvery: 5 })).toThrow('hyperparameters.evalEvery needs a validationDataset');
    expect(resolve({ evalEvery: 5 }, true)()).toMatchObject({ evalEvery: 5 });
    expect(resolve({ loraTargetModules: ['all-linear', 'q_proj'] })).toThrow('takes "all-linear" alone');
  });

  it('refuses anything that is not a value of its kind, "auto" or null', () => {
    for (const [raw, message] of [
      [
        { learningRate: Number.POSITIVE_INFINITY },
        'hyperparameters.learningRate must be a finite number > 0 and ≤ 1, or "auto" (or null); got Infinity',
      ],
      [{ epochs: '3' }, 'got "3"'],
      [{ seed: 2 ** 31 }, 'hyperparameters.seed must be an integer from 0 to 2,147,483,647'],
      [[], 'hyperparameters must be an object'],
      [{ learningrate: 0.1 }, 'hyperparameters.learningrate is not a hyperparameter'],
    ] as const) {
      expect(() => checkHyperparameters('LORA', raw)).toThrow(message);
    }
  });

  it('maps to the trainer spec: checkpointEvery to checkpoints.every, unused rows left out', () => {
    const hp = resolveHyperparameters('FULL', { checkpointEvery: 7 }, imported, dataset(40), { hasValidation: false });
    const parts = trainerSpecParts(hp, 'FULL');
    expect(parts.checkpoints).toEqual({ every: 7 });
    expect(Object.keys(parts.hyperparameters)).not.toContain('checkpointEvery');
    expect(Object.keys(parts.hyperparameters)).not.toContain('loraRank');
    // A LoRA DPO job uses every row the trainer knows: the LoRA shape and beta.
    expect(
      Object.keys(
        trainerSpecParts(resolveHyperparameters('DPO', {}, imported, dataset(40), { hasValidation: false }), 'DPO').hyperparameters,
      ),
    ).toEqual(Object.keys(trainerHyperparametersSchema().properties));
    expect(Object.keys(parts.hyperparameters)).not.toContain('beta');
  });

  it('DPO: beta only for DPO, LoRA rows only when it trains LoRA, auto rates a fraction of the supervised ones', () => {
    expect(() => checkHyperparameters('LORA', { beta: 0.2 })).toThrow('hyperparameters.beta applies to DPO jobs only');
    expect(() => checkHyperparameters({ method: 'DPO', trainable: 'FULL' }, { loraRank: 4 })).toThrow(
      'hyperparameters.loraRank applies to LORA jobs only; leave it out (or "auto") for DPO (trainable FULL)',
    );
    for (const beta of [0, -1, 2.5, '0.1']) expect(() => checkHyperparameters('DPO', { beta })).toThrow('hyperparameters.beta');
    const lora = resolveHyperparameters('DPO', { beta: 2 }, imported, dataset(40), { hasValidation: false });
    expect(lora).toMatchObject({ beta: 2, loraRank: 8, learningRate: 5e-5 });
    const full = resolveHyperparameters({ method: 'DPO', trainable: 'FULL' }, {}, imported, dataset(40), { hasValidation: false });
    expect(full).toMatchObject({ beta: 0.1, loraRank: null });
    expect(full.learningRate).toBeCloseTo(1e-6, 12);
    expect(resolveHyperparameters('LORA', {}, imported, dataset(40), { hasValidation: false }).beta).toBeNull();
    // Pairs are never packed: auto batch size counts pairs.
    expect(resolveHyperparameters('DPO', {}, imported, { ...dataset(80), pairs: true }, { hasValidation: false }).batchSize).toBe(10);
  });
});
