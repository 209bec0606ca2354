/**
 * REST routes of fine-tuning (/api/fine-tune, /api/training): TypeBox schemas, which are
 * also the OpenAPI description, and thin handlers over the training service. Over 400
 * lines because the schemas of the job, its events and checkpoints are most of it.
 */
import { Ajv } from 'ajv';
import { Type } from 'typebox';
import type { Static, TSchema } from 'typebox';
import type { Http } from '../http.js';
import { caller, openEventStream } from '../http.js';
import type { Services } from '../../services.js';
import type { TrainingEvent, TrainingJob } from '../../db/tables/training.js';
import { formatUsd } from '../../errors.js';
import type { StartFineTuneRequest } from '../../training/start-job.js';
import type { JobCheckpoint } from '../../training/checkpoints.js';
import { STOP_WAIT_MS } from '../../training/job-control.js';
import { DateTime, Usd, problemResponses } from '../schemas.js';
import { checkHyperparameters, requestedKind } from '../../training/hyperparameters.js';
import { restHyperparametersSchema } from '../../training/hyperparameter-schemas.js';
import { pageJson, pageQuery, pageSchema } from '../pages.js';
import { trainingEventListing, trainingJobListing } from '../../training/listings.js';

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

const HyperparametersBody = restHyperparametersSchema();

const StartBody = Type.Object(
  {
    baseModel: Type.String({ minLength: 1 }),
    trainingDataset: Type.String({ minLength: 1 }),
    validationDataset: Type.Optional(nullable(Type.String())),
    method: Type.Optional(
      nullable(
        Type.Union([Type.Literal('LORA'), Type.Literal('FULL'), Type.Literal('DPO')], {
          description: 'LORA (default), FULL, or DPO (preference tuning; needs a preference dataset)',
        }),
      ),
    ),
    trainable: Type.Optional(
      nullable(
        Type.Union([Type.Literal('LORA'), Type.Literal('FULL')], {
          description: 'DPO only: train LoRA adapters (default) or all weights',
        }),
      ),
    ),
    hyperparameters: Type.Optional(nullable(HyperparametersBody)),
    suffix: Type.Optional(nullable(Type.String())),
    webhookUrl: Type.Optional(nullable(Type.String())),
    idempotencyKey: Type.Optional(nullable(Type.String())),
    priority: Type.Optional(nullable(Type.Integer())),
  },
  { additionalProperties: false },
);

export const TrainingJobSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('fine_tuning.job'),
    status: Type.String({ description: 'VALIDATING | QUEUED | RUNNING | PAUSED | SUCCEEDED | FAILED | CANCELLED' }),
    method: Type.String({ description: 'LORA | FULL | DPO' }),
    trainable: Type.String({ description: 'The weights it trains: LORA | FULL' }),
    baseModel: Type.String({ description: 'The root base model (also when it continues from a fine-tuned model)' }),
    parentModel: nullable(
      Type.String({ description: 'Continued training: the fine-tuned model or checkpoint (ft:…:ckpt-step-N) it started from' }),
    ),
    trainingDataset: Type.String(),
    validationDataset: nullable(Type.String()),
    suffix: nullable(Type.String()),
    hyperparameters: nullable(Type.Object({}, { additionalProperties: true })),
    progress: Type.Object({
      step: Type.Integer(),
      totalSteps: nullable(Type.Integer()),
      epoch: nullable(Type.Number()),
      percent: nullable(Type.Number()),
      tokensPerSecond: nullable(Type.Number()),
      etaSeconds: nullable(Type.Number()),
    }),
    metrics: Type.Object({
      loss: nullable(Type.Number()),
      minLoss: nullable(Type.Number()),
      evalLoss: nullable(Type.Number()),
      rewardAccuracy: nullable(Type.Number({ description: 'DPO: of the latest step (null for supervised jobs)' })),
      rewardMargin: nullable(Type.Number({ description: 'DPO: of the latest step' })),
      chosenReward: nullable(Type.Number({ description: 'DPO: of the latest step' })),
      rejectedReward: nullable(Type.Number({ description: 'DPO: of the latest step' })),
    }),
    error: nullable(Type.Object({ code: Type.String(), message: Type.String() })),
    fineTunedModel: nullable(Type.String()),
    trainedTokens: Type.Number(),
    estimatedTokens: nullable(Type.Number()),
    estimatedCost: nullable(Usd),
    cost: Usd,
    attempts: Type.Integer(),
    resumedFromStep: nullable(Type.Integer()),
    cancelRequested: Type.Boolean(),
    pauseRequested: Type.Boolean({ description: 'A pause was asked for; the trainer is finishing its step and checkpointing.' }),
    webhookUrl: nullable(Type.String()),
    createdAt: DateTime,
    queuedAt: nullable(DateTime),
    startedAt: nullable(DateTime),
    finishedAt: nullable(DateTime),
  },
  { $id: 'TrainingJob' },
);

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function jobJson(j: TrainingJob) {
  return {
    id: j.id,
    object: 'fine_tuning.job' as const,
    status: j.status,
    method: j.method,
    trainable: j.trainable,
    baseModel: j.base_model_id,
    parentModel: j.parent_model_id,
    trainingDataset: j.training_dataset_id,
    validationDataset: j.validation_dataset_id,
    suffix: j.suffix,
    hyperparameters: Object.keys(j.hyperparameters).length ? j.hyperparameters : null,
    progress: {
      step: j.step,
      totalSteps: j.total_steps,
      epoch: j.epoch,
      percent: j.total_steps ? Math.min(100, (100 * j.step) / j.total_steps) : null,
      tokensPerSecond: j.tokens_per_second,
      etaSeconds: j.eta_seconds,
    },
    metrics: {
      loss: j.loss,
      minLoss: j.min_loss,
      evalLoss: j.eval_loss,
      rewardAccuracy: j.reward_metrics?.rewardAccuracy ?? null,
      rewardMargin: j.reward_metrics?.rewardMargin ?? null,
      chosenReward: j.reward_metrics?.chosenReward ?? null,
      rejectedReward: j.reward_metrics?.rejectedReward ?? null,
    },
    error: j.error_code ? { code: j.error_code, message: j.error_message ?? '' } : null,
    fineTunedModel: j.fine_tuned_model_id,
    trainedTokens: Number(j.trained_tokens),
    estimatedTokens: j.estimated_tokens === null ? null : Number(j.estimated_tokens),
    estimatedCost: j.estimated_cost_micros === null ? null : formatUsd(j.estimated_cost_micros),
    cost: formatUsd(j.cost_micros),
    attempts: j.attempts,
    resumedFromStep: j.resumed_from_step,
    cancelRequested: j.cancel_requested_at !== null,
    pauseRequested: j.pause_requested_at !== null,
    webhookUrl: j.webhook_url,
    createdAt: j.created_at.toISOString(),
    queuedAt: iso(j.queued_at),
    startedAt: iso(j.started_at),
    finishedAt: iso(j.finished_at),
  };
}

/** What `POST /api/fine-tune/estimate` answers (the CLI's `jobs start` shows it). */
export const EstimateSchema = Type.Object({
  billableTokens: Type.Number(),
  epochs: Type.Integer(),
  cost: Usd,
  available: Usd,
  allowedToProceed: Type.Boolean(),
  examples: Type.Integer(),
  tokensPerEpoch: Type.Number(),
  hyperparameters: Type.Object({}, { additionalProperties: true }),
});

const CheckpointSchema = Type.Object({
  id: Type.String({ description: '`ckpt-step-<step>`' }),
  step: Type.Integer(),
  createdAt: DateTime,
  metrics: Type.Object({ trainLoss: nullable(Type.Number()), evalLoss: nullable(Type.Number()) }),
});

/** A checkpoint as REST shows it: by id and step, never the server's folder. */
function checkpointJson(c: JobCheckpoint) {
  return {
    id: c.id,
    step: c.step,
    createdAt: c.createdAt.toISOString(),
    metrics: { trainLoss: c.metrics.trainLoss, evalLoss: c.metrics.evalLoss },
  };
}

/** One stored event as REST shows it (JSON pages and SSE `data:`). */
export function eventJson(e: TrainingEvent) {
  return { sequence: e.seq, type: e.type, step: e.step, status: e.status, createdAt: e.created_at.toISOString(), ...e.payload };
}

const JobIdParam = Type.Object({ jobId: Type.String({ minLength: 1, maxLength: 200 }) });

/**
 * The start and estimate routes check hyperparameters with the domain's strict rule before
 * fastify's schema validation, and validate the body without type coercion: the shared
 * validator coerces (`"1e400"` → Infinity, `true` → 1, `null` → 0), which would let a bad
 * value through as another one, or refuse `null` ("auto").
 */
const strictBody = {
  preValidation: async (request: { body: unknown }) => {
    const body = request.body as { method?: unknown; trainable?: unknown; hyperparameters?: unknown } | null;
    if (body && typeof body === 'object') {
      checkHyperparameters(requestedKind(body.method, body.trainable) ?? body.method, body.hyperparameters);
    }
  },
  validatorCompiler: ({ schema }: { schema: object }) => strictAjv.compile(schema),
};
const strictAjv = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });

function toRequest(body: Static<typeof StartBody>, idempotencyHeader: string | undefined): StartFineTuneRequest {
  const req = JSON.parse(JSON.stringify(body, (_k, v) => (v === null ? undefined : v))) as StartFineTuneRequest;
  if (idempotencyHeader) req.idempotencyKey = idempotencyHeader;
  return req;
}

export async function registerTrainingRoutes(app: Http, services: Services): Promise<void> {
  app.post(
    '/api/fine-tune/training/start',
    {
      schema: {
        tags: ['training'],
        summary: 'Start a fine-tuning job',
        description:
          'Returns at once with the job (QUEUED, or VALIDATING while a dataset is still validating). The estimated cost is reserved from your balance. Send an Idempotency-Key header (or idempotencyKey) to make retries safe.',
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ maxLength: 255 })) }),
        body: StartBody,
        response: { 201: Type.Ref('TrainingJob'), ...problemResponses, 402: Type.Ref('Problem'), 409: Type.Ref('Problem') },
      },
      ...strictBody,
    },
    async (request, reply) => {
      const job = await services.training.start(caller(request).accountId, toRequest(request.body, request.headers['idempotency-key']));
      return reply.status(201).send(jobJson(job));
    },
  );

  app.post(
    '/api/fine-tune/estimate',
    {
      schema: {
        tags: ['training'],
        summary: 'Estimate what a job would cost, without starting it',
        body: StartBody,
        response: {
          200: EstimateSchema,
          ...problemResponses,
        },
      },
      ...strictBody,
    },
    async (request) => {
      const e = await services.training.estimate(caller(request).accountId, toRequest(request.body, undefined));
      return {
        billableTokens: Number(e.billableTokens),
        epochs: e.epochs,
        cost: formatUsd(e.costMicros),
        available: formatUsd(e.availableMicros),
        allowedToProceed: e.allowedToProceed,
        examples: e.examples,
        tokensPerEpoch: Number(e.tokensPerEpoch),
        hyperparameters: e.hyperparameters as unknown as Record<string, unknown>,
      };
    },
  );

  app.get(
    '/api/training',
    {
      schema: {
        tags: ['training'],
        summary: 'List your jobs, newest first',
        querystring: Type.Object({
          ...pageQuery(trainingJobListing),
          status: Type.Optional(Type.String()),
        }),
        response: { 200: pageSchema(Type.Ref('TrainingJob')), ...problemResponses },
      },
    },
    async (request) => {
      const { limit, after, status } = request.query;
      const page = await services.training.list(caller(request).accountId, {
        first: limit ?? null,
        after: after ?? null,
        status: (status as TrainingJob['status'] | undefined) ?? null,
      });
      return pageJson(trainingJobListing, { items: page.jobs, hasNextPage: page.hasNextPage }, after, jobJson);
    },
  );

  app.get(
    '/api/training/:jobId',
    {
      schema: {
        tags: ['training'],
        summary: 'Get a job: status, progress, metrics, error, fine-tuned model',
        params: JobIdParam,
        response: { 200: Type.Ref('TrainingJob'), ...problemResponses },
      },
    },
    async (request) => jobJson(await services.training.get(caller(request).accountId, request.params.jobId)),
  );

  app.post(
    '/api/training/:jobId/cancel',
    {
      schema: {
        tags: ['training'],
        summary: 'Cancel a job (waits up to 10 s for a running job to stop; repeating is harmless)',
        params: JobIdParam,
        response: { 200: Type.Ref('TrainingJob'), ...problemResponses, 409: Type.Ref('Problem') },
      },
    },
    async (request) => jobJson(await services.training.cancel(caller(request).accountId, request.params.jobId, { waitMs: STOP_WAIT_MS })),
  );

  app.post(
    '/api/training/:jobId/pause',
    {
      schema: {
        tags: ['training'],
        summary: 'Pause a job at a checkpoint (waits up to 10 s for a running job; repeating is harmless)',
        description:
          'A queued job is PAUSED at once; a running one finishes its step, checkpoints, and is PAUSED (`pauseRequested` until then). It keeps its reservation. 409 JOB_ALREADY_FINISHED, or JOB_NOT_PAUSABLE while VALIDATING.',
        params: JobIdParam,
        response: { 200: Type.Ref('TrainingJob'), ...problemResponses, 409: Type.Ref('Problem') },
      },
    },
    async (request) => jobJson(await services.training.pause(caller(request).accountId, request.params.jobId, { waitMs: STOP_WAIT_MS })),
  );

  app.post(
    '/api/training/:jobId/resume',
    {
      schema: {
        tags: ['training'],
        summary: 'Queue a paused job again; it continues from its checkpoint',
        description: 'A job that is not paused is returned unchanged. 409 JOB_ALREADY_FINISHED.',
        params: JobIdParam,
        response: { 200: Type.Ref('TrainingJob'), ...problemResponses, 409: Type.Ref('Problem') },
      },
    },
    async (request) => jobJson(await services.training.resume(caller(request).accountId, request.params.jobId)),
  );

  app.get(
    '/api/training/:jobId/checkpoints',
    {
      schema: {
        tags: ['training'],
        summary: "The job's checkpoints that still exist, oldest first, with the metrics at their step",
        params: JobIdParam,
        response: { 200: Type.Object({ object: Type.Literal('list'), data: Type.Array(CheckpointSchema) }), ...problemResponses },
      },
    },
    async (request) => ({
      object: 'list' as const,
      data: (await services.training.checkpoints(caller(request).accountId, request.params.jobId)).map(checkpointJson),
    }),
  );

  app.get(
    '/api/training/:jobId/events',
    {
      schema: {
        tags: ['training'],
        summary: "The job's events: a JSON page, or a live stream with Accept: text/event-stream",
        description:
          'JSON: events after `after` (the nextCursor of a previous page), oldest first; nextCursor also polls for newer events. SSE: stored events after `afterStep` (or after the Last-Event-ID sequence), then live ones; the stream ends after the terminal status. Each SSE event has `id` = sequence, `event` = step | status | eval | checkpoint.',
        params: JobIdParam,
        querystring: Type.Object({
          ...pageQuery(trainingEventListing),
          afterStep: Type.Optional(Type.Integer({ minimum: 0 })),
        }),
        response: { 200: pageSchema(Type.Object({}, { additionalProperties: true })), ...problemResponses },
      },
    },
    async (request, reply) => {
      const accountId = caller(request).accountId;
      const { jobId } = request.params;
      if (!(request.headers.accept ?? '').includes('text/event-stream')) {
        const { limit, after } = request.query;
        const page = await services.training.events(accountId, jobId, { first: limit ?? null, after: after ?? null });
        return pageJson(trainingEventListing, { items: page.events, hasNextPage: page.hasNextPage }, after, eventJson);
      }
      const lastEventId = Number(request.headers['last-event-id']);
      const afterSeq = Number.isInteger(lastEventId) ? lastEventId : undefined;
      const abort = new AbortController();
      const stream = await services.training.progress(accountId, jobId, {
        afterStep: request.query.afterStep ?? null,
        types: ['status', 'step', 'eval', 'checkpoint'],
        signal: abort.signal,
      });
      const res = openEventStream(reply);
      res.write(': connected\n\n');
      const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      request.raw.once('close', () => abort.abort());
      try {
        for await (const event of stream) {
          if (afterSeq !== undefined && event.seq <= afterSeq) continue;
          res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(eventJson(event))}\n\n`);
        }
      } catch (err) {
        services.log.warn({ err, jobId }, 'training event stream failed');
      } finally {
        clearInterval(keepAlive);
        res.end();
      }
      return reply;
    },
  );
}
