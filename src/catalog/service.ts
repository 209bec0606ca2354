import fs from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { Db, Tx } from '../db/connect.js';
import type { Model, ModelUpdate } from '../db/schema.js';
import { DomainError, InvalidInputError, NotFoundError } from '../errors.js';
import { findCheckpointModel, fineTunedModelId } from './checkpoint-models.js';
import type { CheckpointModel } from './checkpoint-models.js';
import { inspectModelFolder, ModelFolderError } from './model-folder.js';
import type { ModelFolderInfo } from './model-folder.js';
import { ListingCache } from './listing-cache.js';
import { checkTrainingDefaults } from './training-defaults.js';
import type { TrainingDefaultsInput } from './training-defaults.js';
import { modelListing } from './listing.js';
import { parseQuantization } from './quantization.js';

export interface ImportModelInput {
  dir: string;
  id: string;
  fineTunable: boolean;
  pricePerMTokMicros?: bigint;
  inferencePricePerMTokMicros?: bigint;
  /** Recommended training defaults ("auto" starts from them); what is left out is the conservative default for a pre-trained model. */
  trainingDefaults?: TrainingDefaultsInput | null;
}

/** A fine-tuned model to register: the job that made it and the trainer's output folders. */
export interface FineTunedModelInput {
  jobId: string;
  accountId: string;
  /** The root base model. */
  baseModelId: string;
  /** Continued training: the fine-tuned model or checkpoint the job started from. */
  parentModelId?: string | null;
  /** The job's suffix (`custom` when it has none). */
  suffix: string | null;
  /** Merged weights in Hugging Face layout. */
  modelPath: string;
  adapterPath: string | null;
  onnxPath: string | null;
}

export interface ModelSettings {
  trainingMicros?: bigint;
  inferenceMicros?: bigint;
  /** NONE, INT8 or INT4; anything else is UNSUPPORTED_QUANTIZATION. */
  defaultQuantization?: string;
}

export interface ListModelsOptions {
  fineTunable?: boolean | undefined;
  /** Page size and a cursor of modelListing. */
  first?: number | null;
  after?: string | null;
}

/** Shared between callers when it comes from the listing cache: never mutate it. */
export interface ModelPage {
  readonly models: readonly Model[];
  hasNextPage: boolean;
}

export interface CatalogService {
  importModel(input: ImportModelInput): Promise<Model>;
  /** Models the account can see: base models and its own fine-tuned ones. First pages come from a cache (listing-cache.ts). */
  listModels(accountId: string, opts?: ListModelsOptions): Promise<ModelPage>;
  fineTunableModels(accountId: string): Promise<Model[]>;
  /**
   * `listModels` (first pages only) and `fineTunableModels` answered from the listing cache
   * without a promise, or undefined when the cache has no fresh entry. The result is shared:
   * never mutate it.
   */
  cachedModelPage(accountId: string, opts?: ListModelsOptions): ModelPage | undefined;
  cachedFineTunableModels(accountId: string): readonly Model[] | undefined;
  /** A model the account can see, or NOT_FOUND (another account's model answers the same). */
  getModel(accountId: string, id: string): Promise<Model>;
  findModel(accountId: string, id: string): Promise<Model | undefined>;
  /** A checkpoint of one of the account's jobs, by its model id (`ft:…:ckpt-step-N`), while it exists. */
  findCheckpoint(accountId: string, id: string): Promise<CheckpointModel | undefined>;
  setPrices(id: string, prices: { trainingMicros?: bigint; inferenceMicros?: bigint }): Promise<Model>;
  /** Replaces a model's recommended training defaults (null: the platform's). */
  setTrainingDefaults(id: string, defaults: TrainingDefaultsInput | null): Promise<Model>;
  /** Records the ONNX export made for a model on its first deployment (inference/onnx-export.ts). */
  recordOnnxExport(id: string, onnxPath: string): Promise<Model>;
  /**
   * Admin settings of a model in one update: its prices and/or the quantization its
   * deployments get when they ask for none. INVALID_INPUT when nothing is given.
   */
  updateModel(id: string, changes: ModelSettings): Promise<Model>;
  /**
   * Registers the model a job produced, as `ft:<base>:<suffix>:<short job id>`, owned by
   * the job's account and priced like its base — in the caller's transaction, so the
   * model exists exactly when the job is SUCCEEDED. Registering the same job again returns
   * the existing model. The caller runs `invalidateListings()` once the transaction has
   * committed (a listing reloaded before the commit would miss the model).
   */
  registerFineTunedModel(trx: Tx, input: FineTunedModelInput): Promise<Model>;
  /**
   * Marks the account's fine-tuned model deleted, in the caller's transaction (which has
   * checked that nothing serves it): from then on it answers like a missing model. Base
   * models and other accounts' models cannot be deleted (MODEL_NOT_DELETABLE /
   * NOT_FOUND). The caller invalidates listings after the commit.
   */
  markDeleted(trx: Tx, accountId: string, id: string): Promise<Model>;
  /**
   * Drops this process's cached listings, after a write made in a caller's transaction
   * (registerFineTunedModel) has committed, so this process lists the model at once.
   * Other processes see it within the cache's lifetime (1 s).
   */
  invalidateListings(): void;
}

/** How long a listing may be served from memory; writes by other processes show after this. */
const LISTING_CACHE_MS = 1_000;

/** Catalog names: lowercase letters, digits, `.`, `_`, `-`, `:` (fine-tuned ids use `ft:`). */
const MODEL_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * Every check of `importModel` that needs no database: the id, the prices, and the folder
 * (inspectModelFolder). The CLI runs it before opening the database, so a bad folder fails
 * in a second and needs no lock on the embedded database; importModel runs it again.
 */
export async function checkModelImport(input: ImportModelInput): Promise<{ source: string; info: ModelFolderInfo }> {
  if (!MODEL_ID.test(input.id)) {
    throw new InvalidInputError('id', 'model id must be 1–63 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit');
  }
  for (const [field, value] of [
    ['pricePerMTok', input.pricePerMTokMicros],
    ['inferencePricePerMTok', input.inferencePricePerMTokMicros],
  ] as const) {
    if (value !== undefined && value < 0n) throw new InvalidInputError(field, `${field} cannot be negative`);
  }
  checkTrainingDefaults(input.trainingDefaults);
  const source = path.resolve(input.dir);
  let info: ModelFolderInfo;
  try {
    info = await inspectModelFolder(source);
  } catch (err) {
    if (err instanceof ModelFolderError) throw new DomainError('INVALID_MODEL_FOLDER', `${source}: ${err.message}`);
    throw err;
  }
  if (input.fineTunable && !info.hasChatTemplate) {
    throw new DomainError('INVALID_MODEL_FOLDER', `${source}: tokenizer_config.json has no chat_template, which fine-tuning needs`);
  }
  return { source, info };
}

export function createCatalogService(deps: { db: Db; dataDir: string; listingCacheMs?: number }): CatalogService {
  const { db } = deps;
  const listings = new ListingCache(deps.listingCacheMs ?? LISTING_CACHE_MS);
  const visible = (accountId: string) =>
    db
      .selectFrom('models')
      .selectAll()
      .where((eb) => eb.or([eb('owner_account_id', 'is', null), eb('owner_account_id', '=', accountId)]))
      .where('deleted_at', 'is', null);

  const cachedPages = new WeakMap<Model[], ModelPage>();
  const toPage = (rows: Model[], first: number): ModelPage => ({ models: rows.slice(0, first), hasNextPage: rows.length > first });
  const pageSize = (opts: ListModelsOptions) => modelListing.request({ first: opts.first ?? null }).first;
  // The page size is part of the key, so one cached listing makes one page.
  const pageKey = (accountId: string, opts: ListModelsOptions) => `${accountId}|${opts.fineTunable ?? '*'}|${pageSize(opts)}`;
  /** The first page of a cached listing is the same object until the listing reloads, so callers can memoise what they derive from it. */
  const pageOf = (rows: Model[], first: number): ModelPage => {
    let page = cachedPages.get(rows);
    if (!page) cachedPages.set(rows, (page = toPage(rows, first)));
    return page;
  };

  /** One page of the account's visible models, plus one row that says whether more follow. */
  function queryPage(accountId: string, first: number, opts: ListModelsOptions): Promise<Model[]> {
    const { after } = modelListing.request({ first, after: opts.after ?? null });
    let query = visible(accountId)
      .orderBy('created_at')
      .orderBy('id')
      .limit(first + 1);
    if (opts.fineTunable !== undefined) query = query.where('fine_tunable', '=', opts.fineTunable);
    if (after) query = query.where(sql<boolean>`(created_at, id) > (${after.createdAt.toISOString()}::timestamptz, ${after.id})`);
    return query.execute();
  }

  /** Updates a model's catalog entry (and drops the cached listings); NOT_FOUND when there is none. */
  async function writeModel(id: string, set: ModelUpdate): Promise<Model> {
    const row = await db.updateTable('models').set(set).where('id', '=', id).returningAll().executeTakeFirst();
    if (!row) throw new NotFoundError('model', id);
    listings.invalidate();
    return row;
  }

  return {
    async importModel(input) {
      const { source, info } = await checkModelImport(input);
      const existing = await db.selectFrom('models').select('id').where('id', '=', input.id).executeTakeFirst();
      if (existing) throw new DomainError('MODEL_EXISTS', `a model with id "${input.id}" already exists`, 409);

      // The catalog owns a copy: the source folder may move or change after import.
      // Copy into a temporary folder and rename, so a model folder that exists is complete.
      const modelsDir = path.join(deps.dataDir, 'models');
      const target = path.join(modelsDir, input.id);
      const temp = path.join(modelsDir, `.${input.id}.${process.pid}.tmp`);
      await fs.mkdir(modelsDir, { recursive: true });
      await fs.rm(temp, { recursive: true, force: true });
      try {
        await fs.cp(source, temp, { recursive: true, errorOnExist: false, force: true });
        await fs.rm(target, { recursive: true, force: true });
        await fs.rename(temp, target);
      } catch (err) {
        await fs.rm(temp, { recursive: true, force: true });
        throw err;
      }
      try {
        const model = await db
          .insertInto('models')
          .values({
            id: input.id,
            owner_account_id: null,
            architecture: info.architecture,
            parameter_count: info.parameterCount,
            context_length: info.contextLength,
            vocab_size: info.vocabSize,
            fine_tunable: input.fineTunable,
            price_per_mtok_micros: input.pricePerMTokMicros ?? 0n,
            inference_price_per_mtok_micros: input.inferencePricePerMTokMicros ?? 0n,
            storage_path: target,
            tokenizer_sha256: info.tokenizerSha256,
            chat_template_sha256: info.chatTemplateSha256,
            training_defaults: storedDefaults(input.trainingDefaults),
            onnx_path: (await fs.stat(path.join(target, 'onnx', 'model.onnx')).then(
              () => true,
              () => false,
            ))
              ? path.join(target, 'onnx', 'model.onnx')
              : null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        listings.invalidate();
        return model;
      } catch (err) {
        await fs.rm(target, { recursive: true, force: true });
        if ((err as { code?: string }).code === '23505') {
          throw new DomainError('MODEL_EXISTS', `a model with id "${input.id}" already exists`, 409);
        }
        throw err;
      }
    },

    async listModels(accountId, opts = {}) {
      const first = pageSize(opts);
      if (opts.after) return toPage(await queryPage(accountId, first, opts), first);
      return pageOf(await listings.get(pageKey(accountId, opts), () => queryPage(accountId, first, opts)), first);
    },

    cachedModelPage(accountId, opts = {}) {
      if (opts.after) return undefined;
      const rows = listings.peek(pageKey(accountId, opts));
      return rows && pageOf(rows, pageSize(opts));
    },

    async fineTunableModels(accountId) {
      const rows = await listings.get(`${accountId}|fine-tunable`, () =>
        visible(accountId).where('fine_tunable', '=', true).orderBy('created_at').orderBy('id').execute(),
      );
      return rows.slice();
    },

    cachedFineTunableModels(accountId) {
      return listings.peek(`${accountId}|fine-tunable`);
    },

    async getModel(accountId, id) {
      const model = await this.findModel(accountId, id);
      if (!model) throw new NotFoundError('model', id);
      return model;
    },

    async findModel(accountId, id) {
      return visible(accountId).where('id', '=', id).executeTakeFirst();
    },

    findCheckpoint(accountId, id) {
      return findCheckpointModel(db, accountId, id);
    },

    async setPrices(id, prices) {
      if (prices.trainingMicros === undefined && prices.inferenceMicros === undefined) {
        throw new InvalidInputError('prices', 'give a training price, an inference price, or both');
      }
      return this.updateModel(id, prices);
    },

    async updateModel(id, changes) {
      const { trainingMicros, inferenceMicros, defaultQuantization } = changes;
      if (trainingMicros === undefined && inferenceMicros === undefined && defaultQuantization === undefined) {
        throw new InvalidInputError('model', 'give a training price, an inference price or a default quantization');
      }
      return writeModel(id, {
        ...(trainingMicros !== undefined ? { price_per_mtok_micros: trainingMicros } : {}),
        ...(inferenceMicros !== undefined ? { inference_price_per_mtok_micros: inferenceMicros } : {}),
        ...(defaultQuantization !== undefined
          ? { default_quantization: parseQuantization(defaultQuantization, 'defaultQuantization') }
          : {}),
      });
    },

    setTrainingDefaults(id, defaults) {
      return writeModel(id, { training_defaults: storedDefaults(defaults) });
    },

    recordOnnxExport(id, onnxPath) {
      return writeModel(id, { onnx_path: onnxPath });
    },

    async registerFineTunedModel(trx, input) {
      const base = await trx.selectFrom('models').selectAll().where('id', '=', input.baseModelId).executeTakeFirstOrThrow();
      const id = fineTunedModelId(base.id, input.suffix, input.jobId);
      await trx
        .insertInto('models')
        .values({
          id,
          owner_account_id: input.accountId,
          base_model_id: base.id,
          parent_model_id: input.parentModelId ?? null,
          architecture: base.architecture,
          parameter_count: base.parameter_count,
          context_length: base.context_length,
          vocab_size: base.vocab_size,
          fine_tunable: base.fine_tunable,
          price_per_mtok_micros: base.price_per_mtok_micros,
          inference_price_per_mtok_micros: base.inference_price_per_mtok_micros,
          default_quantization: base.default_quantization,
          storage_path: input.modelPath,
          tokenizer_sha256: base.tokenizer_sha256,
          chat_template_sha256: base.chat_template_sha256,
          onnx_path: input.onnxPath,
          adapter_path: input.adapterPath,
          training_job_id: input.jobId,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      return trx.selectFrom('models').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    },

    async markDeleted(trx, accountId, id) {
      const model = await trx
        .selectFrom('models')
        .selectAll()
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .where((eb) => eb.or([eb('owner_account_id', 'is', null), eb('owner_account_id', '=', accountId)]))
        .forUpdate()
        .executeTakeFirst();
      if (!model) throw new NotFoundError('model', id);
      if (model.owner_account_id === null) {
        throw new DomainError('MODEL_NOT_DELETABLE', `model "${id}" is a base model; only your fine-tuned models can be deleted`, 403, {
          field: 'model',
        });
      }
      return trx.updateTable('models').set({ deleted_at: new Date() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
    },

    invalidateListings() {
      listings.invalidate();
    },
  };
}

/** The `training_defaults` column: checked, only the values given, SQL null when none. */
function storedDefaults(input: TrainingDefaultsInput | null | undefined): string | null {
  const defaults = checkTrainingDefaults(input);
  return defaults ? JSON.stringify(defaults) : null;
}
