import { Type } from 'typebox';
import type { FastifyReply } from 'fastify';
import type { Http } from '../http.js';
import { caller } from '../http.js';
import type { Services } from '../../services.js';
import type { Model } from '../../db/schema.js';
import { ForbiddenError, InvalidInputError, formatUsd, parseUsd } from '../../errors.js';
import type { ModelPage } from '../../catalog/service.js';
import { modelListing } from '../../catalog/listing.js';
import { DateTime, IdParam, QuantizationInput, QuantizationSchema, Usd, problemResponses } from '../schemas.js';
import { effectiveTrainingDefaults } from '../../catalog/training-defaults.js';
import { pageJson, pageQuery, pageSchema } from '../pages.js';

export const ModelSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('model'),
    architecture: Type.String(),
    parameterCount: Type.Number(),
    contextLength: Type.Integer(),
    vocabSize: Type.Integer(),
    fineTunable: Type.Boolean(),
    pricePerMillionTrainingTokens: Usd,
    pricePerMillionInferenceTokens: Usd,
    defaultQuantization: QuantizationSchema,
    ownedBy: Type.String({ description: '"tuneloop" for base models, else your account id' }),
    baseModel: Type.Union([Type.String(), Type.Null()], { description: 'A fine-tuned model: its root base model' }),
    parentModel: Type.Union([Type.String(), Type.Null()], {
      description: 'Continued training: the fine-tuned model or checkpoint its job started from (null: trained from the base)',
    }),
    trainingDefaults: Type.Object(
      {
        learningRate: Type.Record(Type.String(), Type.Number(), { description: 'Peak learning rate by method (LORA, FULL)' }),
        targetExamples: Type.Integer(),
        minEpochs: Type.Integer(),
        maxEpochs: Type.Integer(),
        loraRank: Type.Integer({ description: 'Auto loraRank (at most the hidden size)' }),
        loraTargetModules: Type.Array(Type.String(), { description: 'Auto loraTargetModules' }),
      },
      {
        description:
          'What "auto" hyperparameters start from: the learning rate, epochs = clamp(ceil(targetExamples / examples), minEpochs, maxEpochs), and the LoRA rank and target modules (docs/training.md)',
      },
    ),
    createdAt: DateTime,
  },
  { $id: 'Model' },
);

/**
 * Listings hand out the same row objects until the catalog changes (catalog/listing-cache.ts),
 * so each row's JSON is built once: formatting prices and dates was a tenth of a listing request.
 */
const jsonByRow = new WeakMap<Model, ReturnType<typeof buildModelJson>>();

export function modelJson(m: Model): ReturnType<typeof buildModelJson> {
  let json = jsonByRow.get(m);
  if (!json) jsonByRow.set(m, (json = buildModelJson(m)));
  return json;
}

function buildModelJson(m: Model) {
  return {
    id: m.id,
    object: 'model' as const,
    architecture: m.architecture,
    parameterCount: Number(m.parameter_count),
    contextLength: m.context_length,
    vocabSize: m.vocab_size,
    fineTunable: m.fine_tunable,
    pricePerMillionTrainingTokens: formatUsd(m.price_per_mtok_micros),
    pricePerMillionInferenceTokens: formatUsd(m.inference_price_per_mtok_micros),
    defaultQuantization: m.default_quantization,
    ownedBy: m.owner_account_id ?? 'tuneloop',
    baseModel: m.base_model_id,
    parentModel: m.parent_model_id,
    trainingDefaults: effectiveTrainingDefaults(m.training_defaults),
    createdAt: m.created_at.toISOString(),
  };
}

/**
 * A cached listing page is one object until the catalog changes (CatalogService.listModels),
 * so its JSON is too: serialized once by the route's own response schema, then sent as is.
 * Only first pages are cached, so the page alone decides the body.
 */
const bodyByPage = new WeakMap<ModelPage, string>();

function sendPage(reply: FastifyReply, page: ModelPage, after: string | undefined): FastifyReply {
  let body = after === undefined ? bodyByPage.get(page) : undefined;
  if (body === undefined) {
    body = reply.serialize(pageJson(modelListing, { items: page.models, hasNextPage: page.hasNextPage }, after, modelJson)) as string;
    if (after === undefined) bodyByPage.set(page, body);
  }
  return reply.type('application/json; charset=utf-8').send(body);
}

export function registerModelRoutes(app: Http, services: Services): void {
  app.get(
    '/api/models',
    {
      schema: {
        tags: ['models'],
        summary: 'List models you can see (base models and your fine-tuned ones)',
        querystring: Type.Object({
          fineTunable: Type.Optional(Type.Boolean()),
          ...pageQuery(modelListing),
        }),
        response: { 200: pageSchema(Type.Ref('Model')), ...problemResponses },
      },
    },
    (request, reply) => {
      const { fineTunable, limit, after } = request.query;
      const accountId = caller(request).accountId;
      const opts = { fineTunable, first: limit ?? null, after: after ?? null };
      // A cached listing answers synchronously: no promise between the request and the write.
      const cached = services.catalog.cachedModelPage(accountId, opts);
      if (cached) return void sendPage(reply, cached, after);
      return services.catalog.listModels(accountId, opts).then((page) => sendPage(reply, page, after));
    },
  );

  app.get(
    '/api/models/:id',
    {
      schema: {
        tags: ['models'],
        summary: 'Get one model',
        params: IdParam,
        response: { 200: Type.Ref('Model'), ...problemResponses },
      },
    },
    async (request) => modelJson(await services.catalog.getModel(caller(request).accountId, request.params.id)),
  );

  app.patch(
    '/api/models/:id',
    {
      schema: {
        tags: ['models'],
        summary: "Admin only: set a model's prices per 1M training / inference tokens and its default quantization",
        params: IdParam,
        body: Type.Object(
          {
            pricePerMillionTrainingTokens: Type.Optional(Usd),
            pricePerMillionInferenceTokens: Type.Optional(Usd),
            defaultQuantization: Type.Optional(QuantizationInput),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('Model'), ...problemResponses, 403: Type.Ref('Problem') },
      },
    },
    async (request) => {
      if (!caller(request).isAdmin) throw new ForbiddenError();
      const price = (value: string | undefined, field: string) => {
        if (value === undefined) return undefined;
        const micros = parseUsd(value, field);
        if (micros < 0n) throw new InvalidInputError(field, `${field} cannot be negative`);
        return micros;
      };
      const training = price(request.body.pricePerMillionTrainingTokens, 'pricePerMillionTrainingTokens');
      const inference = price(request.body.pricePerMillionInferenceTokens, 'pricePerMillionInferenceTokens');
      const { defaultQuantization } = request.body;
      return modelJson(
        await services.catalog.updateModel(request.params.id, {
          ...(training !== undefined ? { trainingMicros: training } : {}),
          ...(inference !== undefined ? { inferenceMicros: inference } : {}),
          ...(defaultQuantization !== undefined ? { defaultQuantization } : {}),
        }),
      );
    },
  );
}
