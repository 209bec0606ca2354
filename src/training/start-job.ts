/**
 * Starting a fine-tune, for GraphQL, REST, /v1 and the CLI alike: the request's checks
 * (model, datasets, method, hyperparameters, metadata), the estimate, idempotency and the
 * reservation, written in one transaction. Over 400 lines because these steps are one
 * transaction whose order matters (docs/training.md); kept together, the order is visible.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Db, Tx } from '../db/connect.js';
import { notifyOnCommit } from '../db/connect.js';
import { channels } from '../db/notifier.js';
import type { Model } from '../db/schema.js';
import type { Dataset } from '../db/tables/datasets.js';
import type { TrainableWeights, TrainingJob, TrainingMethod } from '../db/tables/training.js';
import { DomainError, InvalidInputError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import { readAccountMoney } from '../billing/ledger.js';
import { reserveFunds } from '../billing/reservations.js';
import type { CatalogService } from '../catalog/service.js';
import { findCheckpointModel } from '../catalog/checkpoint-models.js';
import type { DatasetsService } from '../datasets/service.js';
import type { WebhooksService } from '../webhooks/service.js';
import { appendJobEvents, statusPayload } from './job-events.js';
import { billableTokens, checkHyperparameters, resolveHyperparameters, tokenCost, validateSuffix } from './hyperparameters.js';
import type { DatasetShape, HyperparametersRequest, ModelShape, ResolvedHyperparameters } from './hyperparameters.js';
import { modelShape } from './model-shape.js';

/** StartFineTuneInput (a public name: docs/training.md), shared by GraphQL and REST. */
export interface StartFineTuneRequest {
  baseModel: string;
  trainingDataset: string;
  validationDataset?: string | null;
  method?: TrainingMethod | null;
  /** DPO only: LORA (default) or FULL. */
  trainable?: TrainableWeights | null;
  hyperparameters?: HyperparametersRequest | null;
  suffix?: string | null;
  /** Up to 16 string pairs kept with the job (keys ≤ 64 characters, values ≤ 512); jobs can be listed by them. */
  metadata?: Record<string, string> | null;
  webhookUrl?: string | null;
  idempotencyKey?: string | null;
  priority?: number | null;
}

export interface Estimate {
  billableTokens: bigint;
  epochs: number;
  costMicros: bigint;
  availableMicros: bigint;
  allowedToProceed: boolean;
  hyperparameters: ResolvedHyperparameters;
  /** Examples and tokens per epoch (after truncation) of the training dataset. */
  examples: number;
  tokensPerEpoch: bigint;
}

export interface StartDeps {
  db: Db;
  catalog: CatalogService;
  datasets: DatasetsService;
  webhooks: WebhooksService;
  maxAttempts: number;
  /** Refuses webhook URLs the webhooks domain would not deliver to (private addresses…); returns the normalised URL. */
  checkWebhookUrl?: (url: string) => Promise<string>;
}

interface Checked {
  /** The root base model: tokenizer, price, fine-tunability, the new model's name. */
  model: Model;
  /** Continued training: the fine-tuned model or checkpoint id the job starts from. */
  parentModelId: string | null;
  method: TrainingMethod;
  trainable: TrainableWeights;
  training: Dataset;
  validation: Dataset | null;
  suffix: string | null;
  metadata: Record<string, string>;
  webhookUrl: string | null;
}

/** Stable hash of a request, to tell a retry from a different request under the same key. */
export function requestHash(req: StartFineTuneRequest): string {
  const canonical = (value: unknown): unknown =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(
          Object.entries(value as Record<string, unknown>)
            .filter(([k, v]) => v !== undefined && v !== null && k !== 'idempotencyKey')
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => [k, canonical(v)]),
        )
      : Array.isArray(value)
        ? value.map(canonical)
        : value;
  return createHash('sha256')
    .update(JSON.stringify(canonical(req)))
    .digest('hex');
}

/**
 * The model a job starts from. A base model of the catalog; or one of the account's
 * fine-tuned models (`ft:…`) or a checkpoint of one of its jobs (`ft:…:ckpt-step-N`) —
 * continued training, whose tokenizer, price and fine-tunability are the root base's.
 * Another account's fine-tuned model or checkpoint is NOT_FOUND, like a missing one.
 */
export async function findStartingModel(
  deps: Pick<StartDeps, 'db' | 'catalog'>,
  accountId: string,
  id: string,
): Promise<{ model: Model; parentModelId: string | null }> {
  const notFound = () => new DomainError('NOT_FOUND', `model ${JSON.stringify(id)} was not found`, 404, { field: 'baseModel' });
  const found = await deps.catalog.findModel(accountId, id);
  if (found) {
    if (found.owner_account_id === null || found.base_model_id === null) return { model: found, parentModelId: null };
    const root = await deps.catalog.findModel(accountId, found.base_model_id);
    if (!root) throw notFound();
    return { model: root, parentModelId: found.id };
  }
  const checkpoint = await findCheckpointModel(deps.db, accountId, id);
  if (!checkpoint) throw notFound();
  const root = await deps.catalog.findModel(accountId, checkpoint.baseModelId);
  if (!root) throw notFound();
  return { model: root, parentModelId: checkpoint.id };
}

/** The method and the weights it trains; INVALID_HYPERPARAMETERS for an unknown method or a `trainable` that does not fit. */
export function checkMethod(req: Pick<StartFineTuneRequest, 'method' | 'trainable'>): {
  method: TrainingMethod;
  trainable: TrainableWeights;
} {
  const method = req.method ?? 'LORA';
  if (method !== 'LORA' && method !== 'FULL' && method !== 'DPO') {
    throw new InvalidInputError('method', 'method must be LORA, FULL or DPO', 'INVALID_HYPERPARAMETERS');
  }
  const trainable = req.trainable ?? null;
  if (trainable !== null && trainable !== 'LORA' && trainable !== 'FULL') {
    throw new InvalidInputError('trainable', 'trainable must be LORA or FULL', 'INVALID_HYPERPARAMETERS');
  }
  if (method !== 'DPO') {
    if (trainable !== null && trainable !== method) {
      throw new InvalidInputError(
        'trainable',
        `trainable is for DPO jobs; a ${method} job trains ${method} weights`,
        'INVALID_HYPERPARAMETERS',
      );
    }
    return { method, trainable: method };
  }
  return { method, trainable: trainable ?? 'LORA' };
}

/**
 * A DPO job trains on preference data and a supervised job on chat or completion data:
 * DATASET_FORMAT_MISMATCH otherwise (a dataset still validating has no format yet; it is
 * checked again when the job is queued).
 */
export function checkDatasetFormat(method: TrainingMethod, dataset: Dataset, field: 'trainingDataset' | 'validationDataset'): void {
  if (dataset.format === null) return;
  const preference = dataset.format === 'preference';
  if (method === 'DPO' && !preference) {
    throw new DomainError(
      'DATASET_FORMAT_MISMATCH',
      `dataset ${dataset.id} is in ${dataset.format} format; a DPO job needs a preference dataset ({"input", "preferred_output", "non_preferred_output"} per line)`,
      400,
      { field, format: dataset.format },
    );
  }
  if (method !== 'DPO' && preference) {
    throw new DomainError(
      'DATASET_FORMAT_MISMATCH',
      `dataset ${dataset.id} is a preference dataset; train on it with method DPO (${method} needs chat or completion data)`,
      400,
      { field, format: dataset.format },
    );
  }
}

export const METADATA_LIMITS = { pairs: 16, keyLength: 64, valueLength: 512 } as const;

/**
 * A job's metadata: at most 16 pairs of strings, keys of 1–64 characters, values of at
 * most 512. INVALID_INPUT on `metadata` (or `metadata.<key>`) otherwise.
 */
export function checkMetadata(raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new InvalidInputError('metadata', 'metadata must be an object of strings');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > METADATA_LIMITS.pairs) {
    throw new InvalidInputError('metadata', `metadata takes at most ${METADATA_LIMITS.pairs} pairs, got ${entries.length}`);
  }
  for (const [key, value] of entries) {
    if (key.length < 1 || key.length > METADATA_LIMITS.keyLength) {
      throw new InvalidInputError('metadata', `metadata keys must be 1–${METADATA_LIMITS.keyLength} characters`);
    }
    if (typeof value !== 'string' || value.length > METADATA_LIMITS.valueLength) {
      throw new InvalidInputError(
        `metadata.${key}`,
        `metadata values must be strings of at most ${METADATA_LIMITS.valueLength} characters`,
      );
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/**
 * The dataset a request field names. A missing one (or another account's) is NOT_FOUND
 * naming that field, so every transport can say which of the two datasets it was.
 */
async function requestedDataset(
  deps: StartDeps,
  accountId: string,
  id: string,
  field: 'trainingDataset' | 'validationDataset',
): Promise<Dataset> {
  try {
    return await deps.datasets.get(accountId, id);
  } catch (err) {
    if (err instanceof NotFoundError) throw new DomainError(err.code, err.message, err.status, { ...err.details, field });
    throw err;
  }
}

/** The checks that need no token counts: model, datasets, method, suffix, webhook URL. */
async function check(deps: StartDeps, accountId: string, req: StartFineTuneRequest): Promise<Checked> {
  const { method, trainable } = checkMethod(req);
  const { model, parentModelId } = await findStartingModel(deps, accountId, req.baseModel);
  if (!model.fine_tunable) {
    throw new DomainError('MODEL_NOT_FINE_TUNABLE', `model "${model.id}" cannot be fine-tuned; see fineTunableModels`, 400, {
      field: 'baseModel',
    });
  }
  const training = await requestedDataset(deps, accountId, req.trainingDataset, 'trainingDataset');
  if (training.status === 'INVALID') {
    throw new DomainError(
      'DATASET_NOT_READY',
      `dataset ${training.id} is INVALID (${training.error_count} errors); fix the file and upload it again`,
      400,
      { field: 'trainingDataset', datasetStatus: training.status },
    );
  }
  let validation: Dataset | null = null;
  if (req.validationDataset) {
    validation = await requestedDataset(deps, accountId, req.validationDataset, 'validationDataset');
    if (validation.status === 'INVALID') {
      throw new DomainError('DATASET_NOT_READY', `dataset ${validation.id} is INVALID`, 400, {
        field: 'validationDataset',
        datasetStatus: validation.status,
      });
    }
  }
  const suffix = validateSuffix(req.suffix);
  const metadata = checkMetadata(req.metadata);
  let webhookUrl: string | null = null;
  if (req.webhookUrl) {
    let url: URL;
    try {
      url = new URL(req.webhookUrl);
    } catch {
      throw new InvalidInputError('webhookUrl', 'webhookUrl must be an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new InvalidInputError('webhookUrl', 'webhookUrl must use http or https');
    webhookUrl = deps.checkWebhookUrl ? await deps.checkWebhookUrl(url.href) : url.href;
  }
  if (req.priority != null && (!Number.isInteger(req.priority) || req.priority < -100 || req.priority > 100)) {
    throw new InvalidInputError('priority', 'priority must be an integer from -100 to 100');
  }
  checkDatasetFormat(method, training, 'trainingDataset');
  if (validation) checkDatasetFormat(method, validation, 'validationDataset');
  checkHyperparameters({ method, trainable }, req.hyperparameters);
  return { model, parentModelId, method, trainable, training, validation, suffix, metadata, webhookUrl };
}

/**
 * Token counts of a READY dataset for this model's tokenizer and chat template. Validation
 * already counted them with the tokenizer of `tokenizer_model_id`: when the job's model
 * has the same tokenizer.json and template, those counts are used as they are (starting a
 * job on a large dataset stays instant; the worker writes the shard). Otherwise the dataset
 * is tokenized for this model now (once; the shard is cached).
 */
export async function datasetShape(deps: Pick<StartDeps, 'catalog' | 'datasets'>, dataset: Dataset, model: Model): Promise<DatasetShape> {
  let histogram: Array<[number, number]> | undefined;
  let examples = 0;
  let maxTokens = 0;
  const stats = dataset.stats as { examples?: number; tokens?: { max: number; lengths: Array<[number, number]> } | null } | null;
  if (stats?.tokens?.lengths && dataset.tokenizer_model_id) {
    const counted =
      dataset.tokenizer_model_id === model.id ? model : await deps.catalog.findModel(dataset.account_id, dataset.tokenizer_model_id);
    if (counted && counted.tokenizer_sha256 === model.tokenizer_sha256 && counted.chat_template_sha256 === model.chat_template_sha256) {
      histogram = stats.tokens.lengths;
      examples = histogram.reduce((n, [, count]) => n + count, 0);
      maxTokens = stats.tokens.max;
    }
  }
  if (!histogram) {
    const tok = await deps.datasets.tokenization(dataset, model);
    histogram = tok.length_histogram;
    examples = tok.examples;
    maxTokens = tok.max_tokens;
  }
  const lengths = histogram;
  const pairs = dataset.format === 'preference';
  return {
    // A preference dataset's histogram counts both sequences of each pair.
    examples: pairs ? examples / 2 : examples,
    ...(pairs ? { pairs } : {}),
    maxTokens,
    tokensAt: (limit) => lengths.reduce((sum, [length, count]) => sum + Math.min(length, limit) * count, 0),
  };
}

/**
 * Decides a job's hyperparameters and price once its datasets are READY: at start, or
 * when a job that waited in VALIDATING is queued (service.ts).
 */
export async function resolveJob(
  deps: Pick<StartDeps, 'catalog' | 'datasets'>,
  job: { model: Model; method: TrainingMethod; trainable: TrainableWeights; training: Dataset; validation: Dataset | null },
  hyperparameters: unknown,
): Promise<{ shape: DatasetShape; hp: ResolvedHyperparameters; tokens: bigint; cost: bigint }> {
  checkDatasetFormat(job.method, job.training, 'trainingDataset');
  if (job.validation) checkDatasetFormat(job.method, job.validation, 'validationDataset');
  const shape = await datasetShape(deps, job.training, job.model);
  if (job.validation) await datasetShape(deps, job.validation, job.model);
  const model: ModelShape = await modelShape(job.model);
  const hp = resolveHyperparameters({ method: job.method, trainable: job.trainable }, hyperparameters, model, shape, {
    hasValidation: job.validation !== null,
  });
  const tokens = billableTokens(shape, hp);
  return { shape, hp, tokens, cost: tokenCost(tokens, job.model.price_per_mtok_micros) };
}

const resolve = (deps: StartDeps, c: Checked, req: StartFineTuneRequest) => resolveJob(deps, c, req.hyperparameters);

/** What a job would cost, without starting it. */
export async function estimateFineTune(deps: StartDeps, accountId: string, req: StartFineTuneRequest): Promise<Estimate> {
  const c = await check(deps, accountId, req);
  for (const d of [c.training, c.validation]) {
    if (d?.status === 'VALIDATING') {
      throw new DomainError('DATASET_NOT_READY', `dataset ${d.id} is still being validated; estimate again once it is READY`, 400, {
        datasetStatus: d.status,
      });
    }
  }
  const r = await resolve(deps, c, req);
  const money = await readAccountMoney(deps.db, accountId);
  return {
    billableTokens: r.tokens,
    epochs: r.hp.epochs,
    costMicros: r.cost,
    availableMicros: money.availableMicros,
    allowedToProceed: money.availableMicros >= r.cost,
    hyperparameters: r.hp,
    examples: r.shape.examples,
    tokensPerEpoch: BigInt(r.shape.tokensAt(r.hp.maxSeqLength)),
  };
}

/**
 * Starts a job. With READY datasets: resolves hyperparameters, reserves the estimate and
 * queues the job in one transaction. With a dataset still VALIDATING: records the job as
 * VALIDATING; `promoteValidatingJobs` queues (or fails) it when validation ends.
 *
 * A repeated idempotency key with the same request returns the first job. Concurrent
 * starts with one key are serialised by a transaction-scoped advisory lock on
 * (account, key), taken before anything else is locked: the first inserts, the others
 * wait for its commit and find its job. Without it, a second start's insert waited on the
 * first's uncommitted key while holding the account row (`reserveFunds`), and the worker
 * claiming the new job closed a cycle: on PostgreSQL ~9 of 20 parallel retries answered
 * 500 "deadlock detected". With the lock no start ever inserts a key another transaction
 * holds, so none waits on the unique index.
 */
export async function startFineTune(deps: StartDeps, accountId: string, req: StartFineTuneRequest): Promise<TrainingJob> {
  // Bad hyperparameters are refused before anything else, a retry under a used key included.
  checkHyperparameters(checkMethod(req), req.hyperparameters);
  const key = req.idempotencyKey?.trim() || null;
  if (key && key.length > 255) throw new InvalidInputError('idempotencyKey', 'idempotencyKey must be at most 255 characters');
  const hash = requestHash(req);
  if (key) {
    // A retry of a finished start answers without the checks (and without any lock).
    const existing = await findByKey(deps.db, accountId, key);
    if (existing) return sameRequestOrThrow(existing, hash);
  }
  const c = await check(deps, accountId, req);
  const validating = c.training.status === 'VALIDATING' || c.validation?.status === 'VALIDATING';
  const resolved = validating ? null : await resolve(deps, c, req);
  const jobId = newId('trainingJob');
  return deps.db.transaction().execute(async (trx) => {
    if (key) {
      await lockIdempotencyKey(trx, accountId, key);
      const existing = await findByKey(trx, accountId, key);
      if (existing) return sameRequestOrThrow(existing, hash);
    }
    const reservation = resolved
      ? await reserveFunds(trx, {
          accountId,
          amountMicros: resolved.cost,
          purpose: 'training',
          referenceId: jobId,
          description: `fine-tuning ${c.model.id}: ${resolved.tokens} tokens reserved`,
        })
      : null;
    const job = await trx
      .insertInto('training_jobs')
      .values({
        id: jobId,
        account_id: accountId,
        base_model_id: c.model.id,
        training_dataset_id: c.training.id,
        validation_dataset_id: c.validation?.id ?? null,
        method: c.method,
        trainable: c.trainable,
        parent_model_id: c.parentModelId,
        hyperparameters: JSON.stringify(resolved?.hp ?? {}),
        requested: JSON.stringify({ ...req, idempotencyKey: undefined }),
        suffix: c.suffix,
        metadata: JSON.stringify(c.metadata),
        webhook_url: c.webhookUrl,
        idempotency_key: key,
        request_hash: hash,
        status: resolved ? 'QUEUED' : 'VALIDATING',
        priority: req.priority ?? 0,
        estimated_tokens: resolved?.tokens ?? null,
        estimated_cost_micros: resolved?.cost ?? null,
        reservation_id: reservation?.id ?? null,
        max_attempts: deps.maxAttempts,
        queued_at: resolved ? new Date() : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await appendJobEvents(trx, job.id, [{ type: 'status', step: 0, status: job.status, payload: statusPayload(job, job.status) }]);
    if (resolved) await notifyOnCommit(trx, channels.jobQueue, job.id);
    return job;
  });
}

/**
 * Holds the (account, idempotency key) pair until the transaction ends. 64-bit hash of a
 * namespaced text: a collision only makes two unrelated starts wait for each other.
 */
async function lockIdempotencyKey(trx: Tx, accountId: string, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`tuneloop:start:${accountId}:${key}`}, 0))`.execute(trx);
}

function findByKey(db: Db, accountId: string, key: string) {
  return db
    .selectFrom('training_jobs')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

function sameRequestOrThrow(job: TrainingJob, hash: string): TrainingJob {
  if (job.request_hash !== hash) {
    throw new DomainError('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was used for a different request; use a new key', 409, {
      jobId: job.id,
    });
  }
  return job;
}
