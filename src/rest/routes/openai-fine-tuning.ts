/**
 * OpenAI-compatible fine-tuning (/v1/fine_tuning/jobs…) over the training service: the
 * same jobs, events and checkpoints as REST and GraphQL, in OpenAI's shapes
 * (src/rest/openai-objects.ts) and errors (src/rest/openai-errors.ts). This module only
 * translates: OpenAI's request into StartFineTuneRequest, and the service's error fields
 * back into OpenAI's parameter names.
 */
import { Type } from 'typebox';
import type { Http } from '../http.js';
import { caller } from '../http.js';
import type { Services } from '../../services.js';
import { DomainError, InvalidInputError } from '../../errors.js';
import type { StartFineTuneRequest } from '../../training/start-job.js';
import type { HyperparametersRequest } from '../../training/hyperparameters.js';
import type { TrainingMethod } from '../../db/tables/training.js';
import { STOP_WAIT_MS } from '../../training/job-control.js';
import { trainingEventListing, trainingJobListing } from '../../training/listings.js';
import {
  OPENAI_HYPERPARAMETERS,
  cursorAfterId,
  eventCursorAfter,
  fineTuningCheckpointJson,
  fineTuningEventJson,
  fineTuningJobJson,
  openAiHyperparameterName,
  openAiList,
  pageLimit,
} from '../openai-objects.js';

const JobId = Type.Object({ fine_tuning_job_id: Type.String({ minLength: 1, maxLength: 200 }) });
const ListQuery = Type.Object(
  { after: Type.Optional(Type.String({ maxLength: 200 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) },
  { additionalProperties: true },
);

/** What OpenAI's create takes; anything else is refused naming it (docs/openai-compatibility.md). */
const CREATE_FIELDS = new Set([
  'model',
  'training_file',
  'validation_file',
  'suffix',
  'seed',
  'metadata',
  'method',
  'hyperparameters',
  'integrations',
]);
const METHOD_HYPERPARAMETERS: Record<string, ReadonlyArray<keyof typeof OPENAI_HYPERPARAMETERS>> = {
  supervised: ['n_epochs', 'batch_size', 'learning_rate_multiplier'],
  dpo: ['n_epochs', 'batch_size', 'learning_rate_multiplier', 'beta'],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Translated {
  request: StartFineTuneRequest;
  /** Where the hyperparameters came from: `method.<type>.hyperparameters` or the deprecated `hyperparameters`. */
  hyperparametersParam: string;
}

/** OpenAI's create body as a StartFineTuneRequest (Tuneloop's names; the service checks the values). */
function translateCreate(body: Record<string, unknown>): Translated {
  for (const key of Object.keys(body)) {
    if (!CREATE_FIELDS.has(key)) throw new InvalidInputError(key, `'${key}' is not a supported parameter`, 'UNKNOWN_PARAMETER');
  }
  const str = (key: string, required = false) => {
    const v = body[key];
    if (v === undefined || v === null) {
      if (required) throw new InvalidInputError(key, `'${key}' is required`, 'MISSING_REQUIRED_PARAMETER');
      return null;
    }
    if (typeof v !== 'string' || v === '') throw new InvalidInputError(key, `'${key}' must be a non-empty string`);
    return v;
  };
  const integrations = body.integrations;
  if (integrations !== undefined && integrations !== null && !(Array.isArray(integrations) && integrations.length === 0)) {
    throw new InvalidInputError(
      'integrations',
      'integrations (Weights & Biases…) are not supported; leave them out',
      'UNSUPPORTED_PARAMETER',
    );
  }
  let type = 'supervised';
  let given: unknown = body.hyperparameters;
  let hyperparametersParam = 'hyperparameters';
  if (body.method !== undefined && body.method !== null) {
    const method = body.method;
    if (!isObject(method)) throw new InvalidInputError('method', "'method' must be an object {type, …}");
    if (method.type === 'reinforcement') {
      throw new InvalidInputError(
        'method.type',
        'reinforcement fine-tuning is not supported: use supervised or dpo',
        'UNSUPPORTED_PARAMETER',
      );
    }
    if (method.type !== 'supervised' && method.type !== 'dpo') {
      throw new InvalidInputError('method.type', "method.type must be 'supervised' or 'dpo'");
    }
    type = method.type;
    for (const key of Object.keys(method)) {
      if (key !== 'type' && key !== type)
        throw new InvalidInputError(`method.${key}`, `'method.${key}' does not go with method.type '${type}'`);
    }
    const inner = method[type];
    if (inner !== undefined && inner !== null) {
      if (!isObject(inner)) throw new InvalidInputError(`method.${type}`, `'method.${type}' must be an object`);
      for (const key of Object.keys(inner)) {
        if (key !== 'hyperparameters')
          throw new InvalidInputError(`method.${type}.${key}`, `'method.${type}.${key}' is not supported`, 'UNKNOWN_PARAMETER');
      }
      if (given !== undefined && given !== null && inner.hyperparameters !== undefined) {
        throw new InvalidInputError(
          'hyperparameters',
          `give hyperparameters once: in method.${type}.hyperparameters (the top-level one is deprecated)`,
        );
      }
      if (inner.hyperparameters !== undefined) {
        given = inner.hyperparameters;
        hyperparametersParam = `method.${type}.hyperparameters`;
      }
    }
  }
  const hyperparameters: Record<string, unknown> = {};
  if (given !== undefined && given !== null) {
    if (!isObject(given)) throw new InvalidInputError(hyperparametersParam, `'${hyperparametersParam}' must be an object`);
    const allowed = METHOD_HYPERPARAMETERS[type]!;
    for (const [key, value] of Object.entries(given)) {
      if (!(allowed as readonly string[]).includes(key)) {
        throw new InvalidInputError(
          `${hyperparametersParam}.${key}`,
          `'${key}' is not a ${type} hyperparameter; known: ${allowed.join(', ')}`,
          'UNKNOWN_PARAMETER',
        );
      }
      hyperparameters[OPENAI_HYPERPARAMETERS[key as keyof typeof OPENAI_HYPERPARAMETERS]] = value;
    }
  }
  if (body.seed !== undefined && body.seed !== null) hyperparameters.seed = body.seed;
  const metadata = body.metadata;
  if (metadata !== undefined && metadata !== null && !isObject(metadata))
    throw new InvalidInputError('metadata', "'metadata' must be an object of strings");
  return {
    hyperparametersParam,
    request: {
      baseModel: str('model', true)!,
      trainingDataset: str('training_file', true)!,
      validationDataset: str('validation_file'),
      suffix: str('suffix'),
      // Supervised jobs train LoRA adapters (Tuneloop's default); dpo is preference tuning.
      method: (type === 'dpo' ? 'DPO' : 'LORA') as TrainingMethod,
      hyperparameters: hyperparameters as HyperparametersRequest,
      metadata: (metadata as Record<string, string> | null | undefined) ?? null,
    },
  };
}

/** The service's field names (StartFineTuneInput) as OpenAI's parameter names. */
function openAiParam(field: string, hyperparametersParam: string): string {
  const fixed: Record<string, string> = {
    baseModel: 'model',
    trainingDataset: 'training_file',
    validationDataset: 'validation_file',
    method: 'method.type',
    'hyperparameters.seed': 'seed',
  };
  if (fixed[field]) return fixed[field];
  const hp = /^hyperparameters\.(\w+)$/.exec(field);
  if (hp) return `${hyperparametersParam}.${openAiHyperparameterName(hp[1]!)}`;
  return field;
}

export function registerOpenAiFineTuningRoutes(app: Http, services: Services): void {
  const { training } = services;

  app.post(
    '/v1/fine_tuning/jobs',
    {
      schema: {
        tags: ['openai'],
        summary: 'Create a fine-tuning job (OpenAI-compatible: model, training_file, method, hyperparameters, seed, metadata, suffix)',
        body: Type.Object({}, { additionalProperties: true }),
      },
    },
    async (request) => {
      const { request: req, hyperparametersParam } = translateCreate(request.body as Record<string, unknown>);
      try {
        return fineTuningJobJson(await training.start(caller(request).accountId, req));
      } catch (err) {
        if (err instanceof DomainError && typeof err.details.field === 'string') {
          const param = openAiParam(err.details.field, hyperparametersParam);
          const message = err.message.replace(err.details.field, param);
          throw new DomainError(err.code, message, err.status, { ...err.details, field: param });
        }
        throw err;
      }
    },
  );

  app.get(
    '/v1/fine_tuning/jobs',
    {
      schema: {
        tags: ['openai'],
        summary: 'Your fine-tuning jobs, newest first (`after` = the last job id; `metadata[k]=v` filters)',
        querystring: ListQuery,
      },
    },
    async (request) => {
      const query = request.query as Record<string, unknown>;
      const metadata: Record<string, string> = {};
      for (const [key, value] of Object.entries(query)) {
        const match = /^metadata\[(.+)\]$/.exec(key);
        if (match) metadata[match[1]!] = String(value);
        else if (key !== 'after' && key !== 'limit')
          throw new InvalidInputError(key, `'${key}' is not a supported parameter`, 'UNKNOWN_PARAMETER');
      }
      const page = await training.list(caller(request).accountId, {
        first: pageLimit(trainingJobListing, request.query.limit),
        after: cursorAfterId(trainingJobListing, request.query.after),
        metadata,
      });
      const now = new Date();
      return openAiList(
        page.jobs.map((j) => fineTuningJobJson(j, now)),
        page.hasNextPage,
      );
    },
  );

  app.get(
    '/v1/fine_tuning/jobs/:fine_tuning_job_id',
    { schema: { tags: ['openai'], summary: 'A fine-tuning job', params: JobId } },
    async (request) => fineTuningJobJson(await training.get(caller(request).accountId, request.params.fine_tuning_job_id)),
  );

  const control = (path: 'cancel' | 'pause' | 'resume', summary: string) =>
    app.post(
      `/v1/fine_tuning/jobs/:fine_tuning_job_id/${path}`,
      { schema: { tags: ['openai'], summary, params: JobId } },
      async (request) => {
        const accountId = caller(request).accountId;
        const id = request.params.fine_tuning_job_id;
        const job =
          path === 'resume' ? await training.resume(accountId, id) : await training[path](accountId, id, { waitMs: STOP_WAIT_MS });
        return fineTuningJobJson(job);
      },
    );
  control('cancel', 'Cancel a job (a running one stops at its next step)');
  control('pause', 'Pause a job: it stops at a checkpoint and releases its worker, keeping its reservation');
  control('resume', 'Resume a paused job from its checkpoint');

  app.get(
    '/v1/fine_tuning/jobs/:fine_tuning_job_id/events',
    {
      schema: {
        tags: ['openai'],
        summary: 'A job’s events, newest first: status messages, and a `metrics` event per step',
        params: JobId,
        querystring: ListQuery,
      },
    },
    async (request) => {
      const id = request.params.fine_tuning_job_id;
      const accountId = caller(request).accountId;
      const job = await training.get(accountId, id);
      const page = await training.events(accountId, job.id, {
        first: pageLimit(trainingEventListing, request.query.limit) ?? 20,
        after: eventCursorAfter(job.id, request.query.after),
        newestFirst: true,
      });
      return openAiList(page.events.map(fineTuningEventJson), page.hasNextPage);
    },
  );

  app.get(
    '/v1/fine_tuning/jobs/:fine_tuning_job_id/checkpoints',
    {
      schema: {
        tags: ['openai'],
        summary: 'A job’s checkpoints, newest first, each a callable model',
        params: JobId,
        querystring: ListQuery,
      },
    },
    async (request) => {
      const accountId = caller(request).accountId;
      const job = await training.get(accountId, request.params.fine_tuning_job_id);
      const all = (await training.checkpoints(accountId, job.id)).map((c) => fineTuningCheckpointJson(job, c)).reverse();
      const after = request.query.after;
      const start = after ? all.findIndex((c) => c.id === after) + 1 : 0;
      if (after && start === 0) throw new InvalidInputError('after', `after must be the id of a checkpoint of job ${job.id}`);
      const limit = request.query.limit ?? 10;
      return openAiList(all.slice(start, start + limit), start + limit < all.length);
    },
  );
}
