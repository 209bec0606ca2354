import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { notifyOnCommit } from '../db/connect.js';
import { channels } from '../db/notifier.js';
import type { Model } from '../db/schema.js';
import type { Dataset, DatasetTokenization } from '../db/tables/datasets.js';
import { DomainError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import type { Logger } from '../log.js';
import type { CatalogService } from '../catalog/service.js';
import { isDatasetError } from './dataset-error.js';
import { DEFAULT_MAX_DATASET_BYTES, removeIfUnreferenced, storeStream, sweepTempFiles } from './storage.js';
import type { StoredDataset } from './storage.js';
import { fetchUrlToStore, storeServerFile } from './intake.js';
import { validateDataset } from './validation/index.js';
import { ModelTokenizer } from './tokenization/model-tokenizer.js';
import { tokenizeToShard, shardPathFor } from './tokenization/index.js';

export interface DatasetsConfig {
  dataDir: string;
  datasetRoots: string[];
  allowPrivateUrls: boolean;
  maxBytes?: number;
  minExamples?: number;
  maxExamples?: number;
}

export interface CreateDatasetOptions {
  filename?: string | null;
  /** Model whose tokenizer and context the validation counts tokens with; default: the oldest fine-tunable base model. */
  model?: string | null;
  signal?: AbortSignal;
}

export interface DatasetPage {
  datasets: Dataset[];
  hasNextPage: boolean;
}

export interface DatasetsService {
  /** Stores an uploaded stream and starts validating it. Identical bytes return the existing dataset. */
  createFromStream(accountId: string, stream: AsyncIterable<Uint8Array | string> | Readable, opts?: CreateDatasetOptions): Promise<Dataset>;
  createFromUrl(accountId: string, url: string, opts?: CreateDatasetOptions): Promise<Dataset>;
  createFromPath(accountId: string, serverPath: string, opts?: CreateDatasetOptions): Promise<Dataset>;
  get(accountId: string, id: string): Promise<Dataset>;
  find(accountId: string, id: string): Promise<Dataset | undefined>;
  list(accountId: string, opts?: { first?: number; after?: string | null; status?: Dataset['status'] }): Promise<DatasetPage>;
  /** Refused with DATASET_IN_USE while a job that is not finished uses it. */
  delete(accountId: string, id: string): Promise<void>;
  /** The token shard of a READY dataset for a model's tokenizer + template (built once, cached). */
  tokenization(dataset: Dataset, model: Model): Promise<DatasetTokenization>;
  /** Validates a VALIDATING dataset now (normally done in the background); returns the result. */
  validateNow(datasetId: string): Promise<Dataset | undefined>;
  /** Resolves once no validation is running in this process (tests, shutdown). */
  idle(): Promise<void>;
  /** Called after a dataset leaves VALIDATING (training promotes waiting jobs). */
  onValidated(listener: (dataset: Dataset) => Promise<void>): void;
  startBackground(): Promise<void>;
  stopBackground(): Promise<void>;
}

/** Seconds a process may hold a dataset's validation before another process retries it. */
const VALIDATION_LEASE_SECONDS = 600;

/** Intake errors become API errors with UPPER_SNAKE codes (line-level findings stay in the report). */
function toDomainError(err: unknown): unknown {
  if (!isDatasetError(err)) return err;
  return new DomainError(err.code.toUpperCase(), err.message, err.status, { ...err.details });
}

export function createDatasetsService(deps: { db: Db; catalog: CatalogService; log: Logger; config: DatasetsConfig }): DatasetsService {
  const { db, log, config } = deps;
  const maxBytes = config.maxBytes ?? DEFAULT_MAX_DATASET_BYTES;
  const tokenizers = new LRUCache<string, Promise<ModelTokenizer>>({ max: 16 });
  const listeners: Array<(dataset: Dataset) => Promise<void>> = [];
  const running = new Map<string, Promise<Dataset | undefined>>();
  let sweepTimer: NodeJS.Timeout | undefined;
  let stopped = true;

  const loadTokenizer = (model: Model) => {
    const key = `${model.storage_path}|${model.tokenizer_sha256}|${model.chat_template_sha256}`;
    let loading = tokenizers.get(key);
    if (!loading) {
      loading = ModelTokenizer.load(model.storage_path);
      loading.catch(() => tokenizers.delete(key));
      tokenizers.set(key, loading);
    }
    return loading;
  };

  async function validationModel(accountId: string, modelId: string | null | undefined): Promise<Model | undefined> {
    if (modelId) return deps.catalog.getModel(accountId, modelId);
    const models = await deps.catalog.fineTunableModels(accountId);
    return models.find((m) => m.owner_account_id === null) ?? models[0];
  }

  async function record(accountId: string, stored: StoredDataset, source: Dataset['source'], sourceRef: string | null, opts: CreateDatasetOptions): Promise<Dataset> {
    const model = await validationModel(accountId, opts.model);
    const inserted = await db
      .insertInto('datasets')
      .values({
        id: newId('dataset'),
        account_id: accountId,
        filename: opts.filename ? path.basename(opts.filename).slice(0, 255) : null,
        source,
        source_ref: sourceRef,
        sha256: stored.sha256,
        bytes: stored.bytes,
        storage_path: stored.path,
        status: 'VALIDATING',
        errors: '[]',
        warnings: '[]',
        tokenizer_model_id: model?.id ?? null,
      })
      .onConflict((oc) => oc.constraint('datasets_account_sha_unique').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!inserted) {
      // The same bytes from the same account: the existing dataset answers.
      return db.selectFrom('datasets').selectAll().where('account_id', '=', accountId).where('sha256', '=', stored.sha256).executeTakeFirstOrThrow();
    }
    void scheduleValidation(inserted.id);
    return inserted;
  }

  function scheduleValidation(id: string): Promise<Dataset | undefined> {
    let run = running.get(id);
    if (!run) {
      run = validate(id).finally(() => running.delete(id));
      running.set(id, run);
    }
    return run;
  }

  /** Claims the dataset's validation lease, validates, stores the report, tells listeners. */
  async function validate(id: string): Promise<Dataset | undefined> {
    const claimed = await db
      .updateTable('datasets')
      .set({
        validation_lease_expires_at: sql`now() + make_interval(secs => ${VALIDATION_LEASE_SECONDS})`,
        validation_attempts: sql`validation_attempts + 1`,
      })
      .where('id', '=', id)
      .where('status', '=', 'VALIDATING')
      .where((eb) => eb.or([eb('validation_lease_expires_at', 'is', null), eb('validation_lease_expires_at', '<', sql<Date>`now()`)]))
      .returningAll()
      .executeTakeFirst();
    if (!claimed) return undefined;
    let update: Partial<Dataset>;
    try {
      const model = claimed.tokenizer_model_id ? await deps.catalog.findModel(claimed.account_id, claimed.tokenizer_model_id) : undefined;
      const tokenizer = model ? await loadTokenizer(model) : null;
      const report = await validateDataset(claimed.storage_path, {
        tokenizer,
        limits: {
          maxBytes,
          ...(config.minExamples !== undefined ? { minExamples: config.minExamples } : {}),
          ...(config.maxExamples !== undefined ? { maxExamples: config.maxExamples } : {}),
        },
      });
      update = {
        status: report.ok ? 'READY' : 'INVALID',
        format: report.stats.format,
        examples: report.stats.examples,
        stats: report.stats as unknown as Record<string, unknown>,
        errors: report.errors,
        error_count: report.errorCount,
        warnings: report.warnings,
        warning_count: report.warningCount,
      };
    } catch (err) {
      if (!isDatasetError(err)) {
        log.error({ err, datasetId: id }, 'dataset validation crashed; it will be retried');
        await db.updateTable('datasets').set({ validation_lease_expires_at: null }).where('id', '=', id).execute();
        return undefined;
      }
      update = {
        status: 'INVALID',
        errors: [{ line: null, code: err.code, field: null, message: err.message }],
        error_count: 1,
      };
    }
    const done = await db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('datasets')
        .set({
          status: update.status!,
          format: update.format ?? null,
          examples: update.examples ?? null,
          stats: update.stats ? JSON.stringify(update.stats) : null,
          errors: JSON.stringify(update.errors ?? []),
          error_count: update.error_count ?? 0,
          warnings: JSON.stringify(update.warnings ?? []),
          warning_count: update.warning_count ?? 0,
          validated_at: new Date(),
          validation_lease_expires_at: null,
        })
        .where('id', '=', id)
        .where('status', '=', 'VALIDATING')
        .returningAll()
        .executeTakeFirst();
      if (row) await notifyOnCommit(trx, channels.datasets, row.id);
      return row;
    });
    if (done) {
      for (const listener of listeners) {
        await listener(done).catch((err) => log.error({ err, datasetId: id }, 'dataset listener failed'));
      }
    }
    return done;
  }

  async function sweep(): Promise<void> {
    const stale = await db
      .selectFrom('datasets')
      .select('id')
      .where('status', '=', 'VALIDATING')
      .where((eb) => eb.or([eb('validation_lease_expires_at', 'is', null), eb('validation_lease_expires_at', '<', sql<Date>`now()`)]))
      .limit(20)
      .execute();
    for (const { id } of stale) if (!running.has(id)) void scheduleValidation(id);
    await sweepTempFiles(config.dataDir).catch(() => 0);
  }

  return {
    async createFromStream(accountId, stream, opts = {}) {
      let stored: StoredDataset;
      try {
        stored = await storeStream(stream as AsyncIterable<Uint8Array>, { dataDir: config.dataDir, maxBytes, ...(opts.signal ? { signal: opts.signal } : {}) });
      } catch (err) {
        throw toDomainError(err);
      }
      return record(accountId, stored, 'upload', null, opts);
    },

    async createFromUrl(accountId, url, opts = {}) {
      let stored;
      try {
        stored = await fetchUrlToStore(url, { dataDir: config.dataDir, maxBytes, allowPrivate: config.allowPrivateUrls, ...(opts.signal ? { signal: opts.signal } : {}) });
      } catch (err) {
        throw toDomainError(err);
      }
      return record(accountId, stored, 'url', url, { ...opts, filename: opts.filename ?? (new URL(url).pathname.split('/').pop() || null) });
    },

    async createFromPath(accountId, serverPath, opts = {}) {
      let stored;
      try {
        stored = await storeServerFile(serverPath, config.datasetRoots, { dataDir: config.dataDir, maxBytes });
      } catch (err) {
        throw toDomainError(err);
      }
      return record(accountId, stored, 'path', serverPath, { ...opts, filename: opts.filename ?? path.basename(serverPath) });
    },

    async get(accountId, id) {
      const dataset = await this.find(accountId, id);
      if (!dataset) throw new NotFoundError('dataset', id);
      return dataset;
    },

    find(accountId, id) {
      return db.selectFrom('datasets').selectAll().where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
    },

    async list(accountId, opts = {}) {
      const first = Math.min(Math.max(opts.first ?? 50, 1), 200);
      let query = db.selectFrom('datasets').selectAll().where('account_id', '=', accountId).orderBy('id', 'desc').limit(first + 1);
      if (opts.after) query = query.where('id', '<', opts.after);
      if (opts.status) query = query.where('status', '=', opts.status);
      const rows = await query.execute();
      return { datasets: rows.slice(0, first), hasNextPage: rows.length > first };
    },

    async delete(accountId, id) {
      const dataset = await this.get(accountId, id);
      await db.transaction().execute(async (trx) => {
        const inUse = await trx
          .selectFrom('training_jobs')
          .select('id')
          .where('account_id', '=', accountId)
          .where((eb) => eb.or([eb('training_dataset_id', '=', id), eb('validation_dataset_id', '=', id)]))
          .where('status', 'in', ['VALIDATING', 'QUEUED', 'RUNNING'])
          .limit(1)
          .executeTakeFirst();
        if (inUse) {
          throw new DomainError('DATASET_IN_USE', `dataset ${id} is used by job ${inUse.id}, which has not finished; cancel it or wait`, 409, { jobId: inUse.id });
        }
        await trx.deleteFrom('datasets').where('id', '=', id).where('account_id', '=', accountId).execute();
      });
      await removeIfUnreferenced(config.dataDir, dataset.sha256, async (sha) =>
        Boolean(await db.selectFrom('datasets').select('id').where('sha256', '=', sha).limit(1).executeTakeFirst()),
      );
    },

    async tokenization(dataset, model) {
      if (dataset.status !== 'READY') {
        throw new DomainError('DATASET_NOT_READY', `dataset ${dataset.id} is ${dataset.status}`, 400, { datasetStatus: dataset.status });
      }
      const tokenizer = await loadTokenizer(model);
      const key = `${tokenizer.tokenizerSha256}:${tokenizer.templateSha256}`;
      const cached = await db
        .selectFrom('dataset_tokenizations')
        .selectAll()
        .where('sha256', '=', dataset.sha256)
        .where('tokenizer_key', '=', key)
        .executeTakeFirst();
      const shardPath = shardPathFor(config.dataDir, dataset.sha256, tokenizer);
      if (cached && (await fs.stat(cached.shard_path).then(() => true, () => false))) return cached;
      let result;
      try {
        result = await tokenizeToShard(dataset.storage_path, tokenizer, shardPath);
      } catch (err) {
        throw toDomainError(err);
      }
      const row = {
        sha256: dataset.sha256,
        tokenizer_key: key,
        shard_path: shardPath,
        examples: result.examples,
        total_tokens: BigInt(result.totalTokens),
        trainable_tokens: BigInt(result.trainableTokens),
        max_tokens: result.maxTokens,
        length_histogram: JSON.stringify(result.lengths),
      };
      await db
        .insertInto('dataset_tokenizations')
        .values(row)
        .onConflict((oc) => oc.columns(['sha256', 'tokenizer_key']).doUpdateSet({ shard_path: shardPath }))
        .execute();
      return db
        .selectFrom('dataset_tokenizations')
        .selectAll()
        .where('sha256', '=', dataset.sha256)
        .where('tokenizer_key', '=', key)
        .executeTakeFirstOrThrow();
    },

    validateNow: (id) => scheduleValidation(id),

    async idle() {
      while (running.size) await Promise.allSettled([...running.values()]);
    },

    onValidated(listener) {
      listeners.push(listener);
    },

    async startBackground() {
      stopped = false;
      const tick = () => {
        if (stopped) return;
        sweep()
          .catch((err) => log.warn({ err }, 'dataset sweep failed'))
          .finally(() => {
            if (!stopped) sweepTimer = setTimeout(tick, 30_000 + Math.random() * 5_000).unref();
          });
      };
      tick();
    },

    async stopBackground() {
      stopped = true;
      if (sweepTimer) clearTimeout(sweepTimer);
      await this.idle();
    },
  };
}
