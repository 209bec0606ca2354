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
import type { ShardSummary } from './tokenization/shard-summary.js';
import { DomainError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import type { Logger } from '../log.js';
import type { CatalogService } from '../catalog/service.js';
import { isDatasetError } from './dataset-error.js';
import { deleteDataset, lockContent, removeContentIfUnreferenced } from './delete-dataset.js';
import { DEFAULT_MAX_DATASET_BYTES, storeStream, sweepTempFiles } from './storage.js';
import type { StoredDataset } from './storage.js';
import { fetchUrlToStore, storeServerFile } from './intake.js';
import { recordTokenization, tokenizerKey } from './record-tokenization.js';
import { validateDataset } from './validation/index.js';
import type { ValidationLimits } from './validation/index.js';
import { ModelTokenizer } from './tokenization/model-tokenizer.js';
import { tokenizeToShard, shardPathFor } from './tokenization/index.js';
import { sweepShardParts } from './tokenization/sweep-shard-parts.js';
import { datasetListing } from './listing.js';

export interface DatasetsConfig {
  dataDir: string;
  datasetRoots: string[];
  allowPrivateUrls: boolean;
  maxBytes?: number;
  minExamples?: number;
  maxExamples?: number;
  /** Tokens one example may have; null/absent = the counting model's context length. */
  maxTokensPerExample?: number | null;
  /** Time limit of a URL download. Default 60 s. */
  fetchTimeoutMs?: number;
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
  /** The byte limit of one dataset file (transports refuse larger bodies early with it). */
  readonly maxBytes: number;
  /** Stores an uploaded stream and starts validating it. Identical bytes return the existing dataset. */
  createFromStream(accountId: string, stream: AsyncIterable<Uint8Array | string> | Readable, opts?: CreateDatasetOptions): Promise<Dataset>;
  createFromUrl(accountId: string, url: string, opts?: CreateDatasetOptions): Promise<Dataset>;
  createFromPath(accountId: string, serverPath: string, opts?: CreateDatasetOptions): Promise<Dataset>;
  get(accountId: string, id: string): Promise<Dataset>;
  find(accountId: string, id: string): Promise<Dataset | undefined>;
  /** Newest first; `after` is a cursor of datasetListing. */
  list(accountId: string, opts?: { first?: number | null; after?: string | null; status?: Dataset['status'] }): Promise<DatasetPage>;
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

/**
 * Shard temp files are swept every 10 minutes, not on every 30-second tick: the sweep
 * reads one folder per dataset with shards, and a leftover (a process that died while
 * tokenizing) only costs disk until it is an hour old anyway.
 */
const SHARD_SWEEP_INTERVAL_MS = 10 * 60 * 1000;

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
  const tokenizing = new Map<string, Promise<DatasetTokenization>>();
  let sweepTimer: NodeJS.Timeout | undefined;
  let stopped = true;
  let lastShardSweep = 0;
  const limits: Partial<ValidationLimits> = {
    maxBytes,
    ...(config.minExamples !== undefined ? { minExamples: config.minExamples } : {}),
    ...(config.maxExamples !== undefined ? { maxExamples: config.maxExamples } : {}),
  };

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

  async function record(
    accountId: string,
    stored: StoredDataset,
    source: Dataset['source'],
    sourceRef: string | null,
    opts: CreateDatasetOptions,
  ): Promise<Dataset> {
    const model = await validationModel(accountId, opts.model);
    const dataset = await db.transaction().execute(async (trx) => {
      // Under the content lock a concurrent delete of the last dataset with these bytes
      // has either not removed the file yet (and will see this row) or has removed it.
      await lockContent(trx, stored.sha256);
      const existing = await trx
        .selectFrom('datasets')
        .selectAll()
        .where('account_id', '=', accountId)
        .where('sha256', '=', stored.sha256)
        .executeTakeFirst();
      // The same bytes from the same account: the existing dataset answers.
      if (existing) return { row: existing, created: false };
      if (
        !(await fs.stat(stored.path).then(
          () => true,
          () => false,
        ))
      ) {
        throw new DomainError(
          'UPLOAD_CONFLICT',
          'a dataset with the same content was being deleted at the same moment; send the file again',
          409,
        );
      }
      const row = await trx
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
        .returningAll()
        .executeTakeFirstOrThrow();
      return { row, created: true };
    });
    if (dataset.created) void scheduleValidation(dataset.row.id);
    return dataset.row;
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
    let shard: { key: string; shardPath: string; summary: ShardSummary } | null = null;
    try {
      const model = claimed.tokenizer_model_id ? await deps.catalog.findModel(claimed.account_id, claimed.tokenizer_model_id) : undefined;
      const tokenizer = model ? await loadTokenizer(model) : null;
      // The shard for the counting model is written in the same pass: a job on that
      // model (the usual case) starts without tokenizing the file a second time.
      const shardPath = tokenizer ? shardPathFor(config.dataDir, claimed.sha256, tokenizer) : undefined;
      const report = await validateDataset(claimed.storage_path, {
        tokenizer,
        limits: { ...limits, ...tokenLimits(tokenizer) },
        ...(shardPath ? { shardPath, datasetSha256: claimed.sha256 } : {}),
      });
      if (tokenizer && shardPath && report.shard) shard = { key: tokenizerKey(tokenizer), shardPath, summary: report.shard };
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
        const still = await db.selectFrom('datasets').select('id').where('id', '=', id).executeTakeFirst();
        if (!still) return undefined; // deleted while it was being validated
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
      if (row && shard) await recordTokenization(trx, { sha256: row.sha256, ...shard });
      if (row) await notifyOnCommit(trx, channels.datasets, row.id);
      if (!row && shard) {
        // Deleted while validating: the shard just written may be the last trace of it.
        await lockContent(trx, claimed.sha256);
        await removeContentIfUnreferenced(trx, config.dataDir, claimed.sha256);
      }
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
    await sweepTempFiles(config.dataDir).catch((err) => log.warn({ err }, 'dataset temp sweep failed'));
    if (Date.now() - lastShardSweep >= SHARD_SWEEP_INTERVAL_MS) {
      lastShardSweep = Date.now();
      const removed = await sweepShardParts(config.dataDir).catch((err) => void log.warn({ err }, 'shard temp sweep failed'));
      if (removed) log.info({ removed }, 'removed leftover shard temp files');
    }
  }

  /** The token limits validation checks: the configured maximum, else the model's context. */
  function tokenLimits(tokenizer: ModelTokenizer | null): Partial<ValidationLimits> {
    if (config.maxTokensPerExample == null) return {};
    const context = tokenizer?.contextLength ?? null;
    // Allowed past the context, such examples train on their first `context` tokens: warn.
    return {
      maxTokensPerExample: config.maxTokensPerExample,
      ...(context !== null && config.maxTokensPerExample > context ? { truncateAt: context } : {}),
    };
  }

  return {
    maxBytes,

    async createFromStream(accountId, stream, opts = {}) {
      let stored: StoredDataset;
      try {
        stored = await storeStream(stream as AsyncIterable<Uint8Array>, {
          dataDir: config.dataDir,
          maxBytes,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (err) {
        throw toDomainError(err);
      }
      return record(accountId, stored, 'upload', null, opts);
    },

    async createFromUrl(accountId, url, opts = {}) {
      let stored;
      try {
        stored = await fetchUrlToStore(url, {
          dataDir: config.dataDir,
          maxBytes,
          allowPrivate: config.allowPrivateUrls,
          ...(config.fetchTimeoutMs !== undefined ? { timeoutMs: config.fetchTimeoutMs } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (err) {
        throw toDomainError(err);
      }
      return record(accountId, stored, 'url', url, {
        ...opts,
        filename: opts.filename ?? (new URL(url).pathname.split('/').pop() || null),
      });
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
      const { first, after } = datasetListing.request(opts);
      let query = db
        .selectFrom('datasets')
        .selectAll()
        .where('account_id', '=', accountId)
        .orderBy('id', 'desc')
        .limit(first + 1);
      if (after) query = query.where('id', '<', after);
      if (opts.status) query = query.where('status', '=', opts.status);
      const rows = await query.execute();
      return { datasets: rows.slice(0, first), hasNextPage: rows.length > first };
    },

    delete(accountId, id) {
      return deleteDataset(db, config.dataDir, accountId, id);
    },

    async tokenization(dataset, model) {
      if (dataset.status !== 'READY') {
        throw new DomainError('DATASET_NOT_READY', `dataset ${dataset.id} is ${dataset.status}`, 400, { datasetStatus: dataset.status });
      }
      const tokenizer = await loadTokenizer(model);
      const key = tokenizerKey(tokenizer);
      const cached = await db
        .selectFrom('dataset_tokenizations')
        .selectAll()
        .where('sha256', '=', dataset.sha256)
        .where('tokenizer_key', '=', key)
        .executeTakeFirst();
      if (
        cached &&
        (await fs.stat(cached.shard_path).then(
          () => true,
          () => false,
        ))
      )
        return cached;
      // One tokenization per shard at a time in this process (a job start and its worker may ask together).
      const shardPath = shardPathFor(config.dataDir, dataset.sha256, tokenizer);
      let pending = tokenizing.get(shardPath);
      if (!pending) {
        pending = (async () => {
          let summary: ShardSummary;
          try {
            summary = await tokenizeToShard(dataset.storage_path, tokenizer, shardPath, { datasetSha256: dataset.sha256 });
          } catch (err) {
            throw toDomainError(err);
          }
          return recordTokenization(db, { sha256: dataset.sha256, key, shardPath, summary });
        })().finally(() => tokenizing.delete(shardPath));
        tokenizing.set(shardPath, pending);
      }
      return pending;
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
