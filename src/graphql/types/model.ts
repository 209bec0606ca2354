import { builder, principalOf } from '../builder.js';
import type { Model as ModelRow } from '../../db/schema.js';
import { modelListing } from '../../catalog/listing.js';
import { listingConnection } from '../connection.js';
import { ErrorInterface, payload } from '../errors.js';
import type { ListedError } from '../errors.js';
import { InvalidInputError, parseUsd } from '../../errors.js';
import { IMPORTED_MODEL_DEFAULTS, effectiveTrainingDefaults } from '../../catalog/training-defaults.js';
import type { TrainingDefaults } from '../../catalog/training-defaults.js';

import { QUANTIZATIONS } from '../../catalog/quantization.js';

export const ModelRef = builder.objectRef<ModelRow>('Model');

const LearningRateByMethodRef = builder.objectRef<TrainingDefaults['learningRate']>('LearningRateByMethod').implement({
  description: 'A peak learning rate per fine-tuning method.',
  fields: (t) =>
    Object.fromEntries(Object.keys(IMPORTED_MODEL_DEFAULTS.learningRate).map((method) => [method, t.exposeFloat(method as 'LORA')])),
});

const TrainingDefaultsRef = builder.objectRef<TrainingDefaults>('TrainingDefaults').implement({
  description: 'What "auto" hyperparameters start from for this model (docs/training.md, "How auto is decided").',
  fields: (t) => ({
    learningRate: t.field({ type: LearningRateByMethodRef, resolve: (d) => d.learningRate }),
    targetExamples: t.exposeInt('targetExamples', {
      description: 'Auto epochs aim at about this many examples seen: clamp(ceil(targetExamples / examples), minEpochs, maxEpochs).',
    }),
    minEpochs: t.exposeInt('minEpochs'),
    maxEpochs: t.exposeInt('maxEpochs'),
    loraRank: t.exposeInt('loraRank', { description: 'Auto loraRank (at most the hidden size).' }),
    loraTargetModules: t.exposeStringList('loraTargetModules', {
      description: 'Auto loraTargetModules: module names, or ["all-linear"].',
    }),
  }),
});

export const QuantizationEnum = builder.enumType('Quantization', {
  description:
    'How a deployment serves the weights: NONE (float32 as trained), INT8 or INT4 (block-quantized weights: smaller and faster, slightly less exact; docs/inference.md).',
  values: QUANTIZATIONS,
});

builder.node(ModelRef, {
  description: 'A model in the catalog: a base model, or a model fine-tuned by your account.',
  id: { resolve: (model) => model.id },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'architecture' in value && 'storage_path' in value,
  loadOne: (id, ctx) => (ctx.principal ? ctx.services.catalog.findModel(ctx.principal.accountId, id).then((m) => m ?? null) : null),
  fields: (t) => ({
    fineTunable: t.exposeBoolean('fine_tunable'),
    architecture: t.exposeString('architecture'),
    parameterCount: t.field({ type: 'Float', resolve: (m) => Number(m.parameter_count) }),
    contextLength: t.exposeInt('context_length'),
    vocabSize: t.exposeInt('vocab_size'),
    pricePerMillionTrainingTokens: t.field({ type: 'USD', resolve: (m) => m.price_per_mtok_micros }),
    pricePerMillionInferenceTokens: t.field({ type: 'USD', resolve: (m) => m.inference_price_per_mtok_micros }),
    defaultQuantization: t.field({
      type: QuantizationEnum,
      description: 'What a deployment of this model gets when it asks for no quantization.',
      resolve: (m) => m.default_quantization,
    }),
    isBaseModel: t.boolean({ resolve: (m) => m.owner_account_id === null }),
    baseModel: t.field({
      type: ModelRef,
      nullable: true,
      description: 'A fine-tuned model: its root base model (also for a fine-tune of a fine-tune). Null for a base model.',
      resolve: (m, _args, ctx) => (m.base_model_id ? ctx.services.catalog.findModel(principalOf(ctx).accountId, m.base_model_id) : null),
    }),
    parentModel: t.id({
      nullable: true,
      description:
        'Continued training: the fine-tuned model or checkpoint (`ft:…:ckpt-step-N`) its job started from. Null when it was trained from its base model.',
      resolve: (m) => m.parent_model_id,
    }),
    trainingDefaults: t.field({ type: TrainingDefaultsRef, resolve: (m) => effectiveTrainingDefaults(m.training_defaults) }),
    createdAt: t.expose('created_at', { type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  fineTunableModels: t.field({
    type: [ModelRef],
    description: 'Models you can fine-tune.',
    // From the listing cache without a promise while it is fresh.
    resolve: (_root, _args, ctx) => {
      const accountId = principalOf(ctx).accountId;
      return (
        (ctx.services.catalog.cachedFineTunableModels(accountId) as ModelRow[] | undefined) ??
        ctx.services.catalog.fineTunableModels(accountId)
      );
    },
  }),
  model: t.field({
    type: ModelRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.catalog.findModel(principalOf(ctx).accountId, args.id),
  }),
  models: t.connection({
    type: ModelRef,
    description: 'Every model you can see: base models and your fine-tuned ones, oldest first.',
    args: { fineTunable: t.arg.boolean() },
    resolve: (_root, args, ctx) =>
      listingConnection(modelListing, args, async (page) => {
        const { models, hasNextPage } = await ctx.services.catalog.listModels(principalOf(ctx).accountId, {
          ...page,
          ...(args.fineTunable != null ? { fineTunable: args.fineTunable } : {}),
        });
        return { items: models, hasNextPage };
      }),
  }),
}));

const SetModelPricesInput = builder.inputType('SetModelPricesInput', {
  fields: (t) => ({
    modelId: t.id({ required: true }),
    pricePerMillionTrainingTokens: t.field({ type: 'USD' }),
    pricePerMillionInferenceTokens: t.field({ type: 'USD' }),
  }),
});

/** The payload of a mutation that changes a model's settings: the model, or errors. */
const modelPayload = (name: string) =>
  builder.objectRef<{ model?: ModelRow; errors: ListedError[] }>(name).implement({
    fields: (t) => ({
      model: t.field({ type: ModelRef, nullable: true, resolve: (p) => p.model ?? null }),
      errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
    }),
  });

const SetModelPricesPayload = modelPayload('SetModelPricesPayload');

builder.mutationFields((t) => ({
  setModelPrices: t.field({
    type: SetModelPricesPayload,
    description: 'Admin only: the price per 1M training and/or inference tokens of a model (new jobs and requests use it).',
    authScopes: { admin: true },
    args: { input: t.arg({ type: SetModelPricesInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      payload(async () => ({
        model: await ctx.services.catalog.setPrices(input.modelId, {
          ...(input.pricePerMillionTrainingTokens != null
            ? { trainingMicros: parsePrice(input.pricePerMillionTrainingTokens, 'pricePerMillionTrainingTokens') }
            : {}),
          ...(input.pricePerMillionInferenceTokens != null
            ? { inferenceMicros: parsePrice(input.pricePerMillionInferenceTokens, 'pricePerMillionInferenceTokens') }
            : {}),
        }),
      })),
  }),
}));

const SetModelDefaultQuantizationInput = builder.inputType('SetModelDefaultQuantizationInput', {
  fields: (t) => ({
    modelId: t.id({ required: true }),
    quantization: t.field({ type: QuantizationEnum, required: true }),
  }),
});

const SetModelDefaultQuantizationPayload = modelPayload('SetModelDefaultQuantizationPayload');

builder.mutationFields((t) => ({
  setModelDefaultQuantization: t.field({
    type: SetModelDefaultQuantizationPayload,
    description: 'Admin only: the quantization deployments of a model get when they ask for none (new deployments use it).',
    authScopes: { admin: true },
    args: { input: t.arg({ type: SetModelDefaultQuantizationInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      payload(async () => ({ model: await ctx.services.catalog.updateModel(input.modelId, { defaultQuantization: input.quantization }) })),
  }),
}));

function parsePrice(value: string, field: string): bigint {
  const micros = parseUsd(value, field);
  if (micros < 0n) throw new InvalidInputError(field, `${field} cannot be negative`);
  return micros;
}
