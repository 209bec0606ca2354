/**
 * The datasets service: intake (upload, path, URL), validation and tokenization runs,
 * listing, reports and deletion, for every transport. Over 400 lines because it is the
 * one entry point of the domain; the heavy parts are modules of their own (intake.ts,
 * validation/, tokenization/, fan-out.ts, tokenization-lease.ts).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { Model } from '../db/schema.js';
import type { Dataset, DatasetTokenization } from '../db/tables/datasets.js';
import { DomainError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import { periodicRunner } from '../runner.js';
import type { Runner } from '../runner.js';
import type { ServiceDeps } from '../service-deps.js';
import { InsufficientStorageError, isDiskFullError } from '../storage/disk-full.js';
import { orphanedBefore } from '../storage/orphans.js';
import { sanitizeText } from '../text/sanitize-text.js';
import { loadTrainingTokenizer } from '../tokenizer/model-tokenizer.js';
import type { ModelTokenizer } from '../tokenizer/model-tokenizer.js';
import { asDatasetError } from './dataset-error.js';
import { deleteDataset, lockContent } from './delete-dataset.js';
import { fetchUrlToStore, storeServerFile } from './intake.js';
import { RETRYABLE_VALIDATION_CODES, runValidation } from './run-validation.js';
import { shardPathFor } from './shards/shard-cache.js';
import { sweepShardParts } from './shards/sweep-shard-parts.js';
import { DEFAULT_MAX_DATASET_BYTES, openDataset, storeStream, sweepTempFiles } from './storage.js';
import type { StoredDataset } from './storage.js';
import { tokenizeLeased } from './tokenize-leased.js';
import { unclaimedValidations } from './validation-lease.js';
import type { ValidationLimits } from './validation/index.js';
import { datasetListing } from './listing.js';
import { fetchPage } from '../paging/listing.js';

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
  /** The stored bytes of one of the account's datasets, as uploaded (NOT_FOUND like `get`). */
  content(accountId: string, id: string): Promise<{ dataset: Dataset; stream: Readable }>;
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
  /** The validation sweeper: claims validations whose process died, removes leftover temp files. */
  runners(): Runner[];
}

/**
 * Shard temp files are swept every 10 minutes, not on every tick: the sweep reads one
 * folder per dataset with shards, and a leftover only costs disk until it is an hour old
 * (a takeover removes its own shard's leftovers at once).
 */
const SHARD_SWEEP_INTERVAL_MS = 10 * 60 * 1000;

/** Intake errors become API errors with UPPER_SNAKE codes (line-level findings stay in the report). */
function toDomainError(error: unknown, what: string): unknown {
  const err = asDatasetError(error);
  if (err) return new DomainError(err.code.toUpperCase(), err.message, err.status, { ...err.details });
  if (isDiskFullError(error)) return new InsufficientStorageError(what);
  return error;
}

/**
 * Datasets: intake (upload, URL, server path) into the content-addressed store, background
 * validation under a heartbeat lease, and token shards per tokenizer under a lease of
 * their own. Every background task ends in a status stored on its own row; none can
 * take the process down.
 */
export function createDatasetsService(deps: ServiceDeps): DatasetsService {
  const { db, log, config } = deps;
  const { dataDir } = config;
  const maxBytes = config.datasetMaxBytes ?? DEFAULT_MAX_DATASET_BYTES;
  /** This process, as a lease holder. */
  const holder = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const tokenizers = new LRUCache<string, Promise<ModelTokenizer>>({ max: 16 });
  const listeners: Array<(dataset: Dataset) => Promise<void>> = [];
  const running = new Map<string, Promise<Dataset | undefined>>();
  const tokenizing = new Map<string, Promise<DatasetTokenization>>();
  /** Aborted when the process stops: validations in flight hand their lease back. */
  let stopping = new AbortController();
  let lastShardSweep = 0;
  const limits: Partial<ValidationLimits> = {
    maxBytes,
    minExamples: config.datasetMinExamples,
    maxExamples: config.datasetMaxExamples,
  };

  const loadTokenizer = (model: Model) => {
    const key = `${model.storage_path}|${model.tokenizer_sha256}|${model.chat_template_sha256}`;
    let loading = tokenizers.get(key);
    if (!loading) {
      loading = loadTrainingTokenizer(model.storage_path);
      loading.catch(() => tokenizers.delete(key));
      tokenizers.set(key, loading);
    }
    return loading;
  };

  /** The token limits validation checks: the configured maximum, else the model's context. */
  function tokenLimits(tokenizer: ModelTokenizer | null): Partial<ValidationLimits> {
    if (config.datasetMaxTokensPerExample == null) return limits;
    const context = tokenizer?.contextLength ?? null;
    // Allowed past the context, such examples train on their first `context` tokens: warn.
    return {
      ...limits,
      maxTokensPerExample: config.datasetMaxTokensPerExample,
      ...(context !== null && config.datasetMaxTokensPerExample > context ? { truncateAt: context } : {}),
    };
  }

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
    const dataset = await db
      .transaction()
      .execute(async (trx) => {
        // Under the content lock a concurrent delete of the last dataset with these bytes
        // has either not removed the file yet (and will see this row) or has removed it.
        await lockContent(trx, stored.sha256);
        const existing = await trx
          .selectFrom('datasets')
          .selectAll()
          .where('account_id', '=', accountId)
          .where('sha256', '=', stored.sha256)
          .executeTakeFirst();
        // The same bytes from the same account: the existing dataset answers — validated
        // afresh when its last validation failed for the server's reasons, not the file's.
        if (existing) {
          if (!retryableFailure(existing)) return { row: existing, validate: false };
          const row = await trx
            .updateTable('datasets')
            .set({
              status: 'VALIDATING',
              errors: '[]',
              error_count: 0,
              warnings: '[]',
              warning_count: 0,
              validation_attempts: 0,
              validation_lease_expires_at: null,
              validated_at: null,
            })
            .where('id', '=', existing.id)
            .returningAll()
            .executeTakeFirstOrThrow();
          return { row, validate: true };
        }
        if (!(await exists(stored.path))) {
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
            filename: opts.filename ? sanitizeText(path.basename(opts.filename), 254) : null,
            source,
            source_ref: sourceRef === null ? null : sanitizeText(sourceRef, 4_096),
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
        return { row, validate: true };
      })
      .catch((err: unknown) => {
        throw toDomainError(err, 'the dataset');
      });
    if (dataset.validate) void scheduleValidation(dataset.row.id);
    return dataset.row;
  }

  /** Validates in the background; the promise never rejects (see runValidation). */
  function scheduleValidation(id: string): Promise<Dataset | undefined> {
    let run = running.get(id);
    if (!run) {
      run = runValidation(
        {
          db,
          log,
          dataDir,
          findModel: (accountId, modelId) => deps.catalog.findModel(accountId, modelId),
          loadTokenizer,
          limits: tokenLimits,
        },
        id,
        stopping.signal,
      )
        .then(async (done) => {
          if (done) await notifyValidated(done);
          return done;
        })
        .finally(() => running.delete(id));
      running.set(id, run);
    }
    return run;
  }

  async function notifyValidated(dataset: Dataset): Promise<void> {
    for (const listener of listeners) {
      await listener(dataset).catch((err) => log.error({ err, datasetId: dataset.id }, 'dataset listener failed'));
    }
  }

  /** Claims validations whose lease is free or lapsed, and removes leftover temp files. */
  async function sweep(): Promise<void> {
    for (const id of await unclaimedValidations(db, 20)) if (!running.has(id)) void scheduleValidation(id);
    await sweepTempFiles(dataDir, undefined, orphanedBefore(config)).catch((err) => log.warn({ err }, 'dataset temp sweep failed'));
    if (Date.now() - lastShardSweep >= SHARD_SWEEP_INTERVAL_MS) {
      lastShardSweep = Date.now();
      const removed = await sweepShardParts(dataDir).catch((err) => void log.warn({ err }, 'shard temp sweep failed'));
      if (removed) log.info({ removed }, 'removed leftover shard temp files');
    }
  }

  return {
    maxBytes,

    async createFromStream(accountId, stream, opts = {}) {
      let stored: StoredDataset;
      try {
        stored = await storeStream(stream as AsyncIterable<Uint8Array>, {
          dataDir,
          maxBytes,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (err) {
        throw toDomainError(err, 'the upload');
      }
      return record(accountId, stored, 'upload', null, opts);
    },

    async createFromUrl(accountId, url, opts = {}) {
      let stored: StoredDataset;
      try {
        stored = await fetchUrlToStore(url, {
          dataDir,
          maxBytes,
          allowPrivate: config.datasetAllowPrivateUrls,
          timeoutMs: config.datasetFetchTimeoutMs,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (err) {
        throw toDomainError(err, 'the download');
      }
      return record(accountId, stored, 'url', url, {
        ...opts,
        filename: opts.filename ?? (new URL(url).pathname.split('/').pop() || null),
      });
    },

    async createFromPath(accountId, serverPath, opts = {}) {
      let stored: StoredDataset;
      try {
        stored = await storeServerFile(serverPath, config.datasetRoots, { dataDir, maxBytes });
      } catch (err) {
        throw toDomainError(err, 'the copy of the file');
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
      let query = db.selectFrom('datasets').selectAll().where('account_id', '=', accountId).orderBy('id', 'desc');
      if (after) query = query.where('id', '<', after);
      if (opts.status) query = query.where('status', '=', opts.status);
      const page = await fetchPage(query, first);
      return { datasets: page.items, hasNextPage: page.hasNextPage };
    },

    async content(accountId, id) {
      const dataset = await this.get(accountId, id);
      let stored: StoredDataset;
      try {
        stored = await openDataset(dataDir, dataset.sha256);
      } catch (err) {
        throw toDomainError(err, 'reading the file');
      }
      return { dataset, stream: createReadStream(stored.path) };
    },

    delete(accountId, id) {
      return deleteDataset(db, dataDir, accountId, id);
    },

    async tokenization(dataset, model) {
      if (dataset.status !== 'READY') {
        throw new DomainError('DATASET_NOT_READY', `dataset ${dataset.id} is ${dataset.status}`, 400, { datasetStatus: dataset.status });
      }
      let tokenizer: ModelTokenizer;
      try {
        tokenizer = await loadTokenizer(model);
      } catch (err) {
        throw toDomainError(err, 'the token shard');
      }
      // One tokenization per shard at a time in this process (a job start and its worker may ask together).
      const shardPath = shardPathFor(dataDir, dataset.sha256, tokenizer);
      let pending = tokenizing.get(shardPath);
      if (!pending) {
        pending = tokenizeLeased({ db, log, dataDir, holder }, dataset, tokenizer)
          .catch((err: unknown) => {
            throw toDomainError(err, 'the token shard');
          })
          .finally(() => tokenizing.delete(shardPath));
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

    runners() {
      const sweeper = periodicRunner(
        'dataset-validation',
        // Every ~5 s: a validation whose process died is resumed within seconds of its lease lapsing.
        { firstMs: 500, everyMs: 5_000, jitterMs: 2_000 },
        sweep,
        (err) => log.warn({ err }, 'dataset sweep failed'),
      );
      return [
        {
          name: sweeper.name,
          async start() {
            stopping = new AbortController();
            await sweeper.start();
          },
          async stop() {
            await sweeper.stop();
            // Validations in flight hand their lease back: another process (or the next start) resumes them at once.
            stopping.abort(new Error('the process is stopping'));
            while (running.size) await Promise.allSettled([...running.values()]);
          },
        },
      ];
    },
  };
}

/** An INVALID dataset whose validation failed for the server's reasons (disk full, a crash), not its content. */
function retryableFailure(dataset: Dataset): boolean {
  if (dataset.status !== 'INVALID') return false;
  const code = (dataset.errors as Array<{ code?: unknown }>)[0]?.code;
  return (RETRYABLE_VALIDATION_CODES as readonly unknown[]).includes(code);
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}
