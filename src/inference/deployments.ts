/**
 * Deployments: deploy, load, LOADING → READY / FAILED, undeploy, following other
 * processes' changes, and the runtimes deployments and on-demand models share. Over 400
 * lines because a deployment's lifecycle is one state machine over one table: split, its
 * invariants (one live deployment per account and model, a runtime released only by its
 * last holder) would be spread over several files. Loading, exports and adapters live in
 * their own modules (runtime-registry.ts, onnx-export.ts, adapter-store.ts).
 */
import { EventEmitter } from 'node:events';
import type { Db } from '../db/connect.js';
import { notifyOnCommit } from '../db/connect.js';
import { sanitizeText } from '../text/sanitize-text.js';
import { redactServerPaths } from '../training/redact-paths.js';
import { channels } from '../db/notifier.js';
import type { Notifier } from '../db/notifier.js';
import type { Deployment } from '../db/tables/inference.js';
import type { CatalogService } from '../catalog/service.js';
import type { Logger } from '../log.js';
import { DomainError, NotFoundError } from '../errors.js';
import type { OnnxExporter } from './onnx-export.js';
import type { QuantizedExports } from './quantized-export.js';
import type { Model } from '../db/schema.js';
import fs from 'node:fs/promises';
import path from 'node:path';
import { loraExportDir } from './onnx-export.js';
import type { AdapterFactors } from './runtime/lora-stack.js';
import type { ModelRuntime, ModelSource, RuntimeRegistry } from './runtime-registry.js';
import type { AdapterStore } from './adapter-store.js';
import { resolveServing, runtimeKey, servedQuantization } from './serving.js';
import type { Serving, ServingRequest } from './serving.js';
import type { OnDemandLease, OnDemandLoader, OnDemandModels } from './on-demand.js';
import type { CheckpointModel } from '../catalog/checkpoint-models.js';
import { ModelLoadFailedError, ModelLoadingError, ModelNotDeployedError } from './errors.js';
import {
  LIVE_STATUSES,
  deploymentById,
  findDeployment,
  insertDeployment,
  listDeployments,
  liveDeployments,
  markFailed,
  markReady,
  markUndeployed,
} from './store/deployments.js';

export interface DeployResult {
  deployment: Deployment;
  /** False when the account already had a live deployment of the model (it is returned). */
  created: boolean;
}

export interface DeployOptions {
  /** NONE, INT8 or INT4; absent: the model's default quantization (see `servedQuantization`). */
  quantization?: string | null | undefined;
  /** ADAPTER or MERGED; absent: ADAPTER for a LoRA fine-tune that can be (serving.ts). */
  servedAs?: string | null | undefined;
}

/** What loading a model takes, with its exports made: the runtime to start or join, and the bytes it holds. */
interface PreparedServing {
  source: ModelSource;
  bytesOnDisk: number;
  bytesInMemory: number;
}

/** A model loaded in this process for a holder (a deployment): the runtime requests go to, and what it takes. */
export interface LoadedServing {
  runtime: ModelRuntime;
  serving: Serving;
  bytesOnDisk: number;
  bytesInMemory: number;
}

export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** How long a request waits for its deployment's runtime to load before 503. */
const LOAD_WAIT_MS = 60_000;

const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

const adapterBytes = (f: AdapterFactors) => [...f.a, ...f.b].reduce((n, t) => n + (t?.byteLength ?? 0), 0);
/** What a request names that is served without a deployment: a fine-tuned model, or a checkpoint on its job's base. */
export type OnDemandTarget = { model: Model } | { checkpoint: CheckpointModel; base: Model };

/**
 * Waits for `p` up to LOAD_WAIT_MS (then MODEL_LOADING, 503 with Retry-After: the load
 * goes on, and a retry finds it done) or until the request is aborted (CANCELLED).
 */
async function waitForLoad<T>(p: Promise<T>, modelId: string, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const giveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ModelLoadingError(modelId)), LOAD_WAIT_MS);
    onAbort = () => reject(new DomainError('CANCELLED', 'the request was cancelled', 499));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([p, giveUp]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

const isLive = (d: Deployment) => (LIVE_STATUSES as readonly string[]).includes(d.status);

export { runtimeKey, servedQuantization } from './serving.js';

/**
 * Deployment lifecycle: rows in the database are the truth, every api process serves
 * every live deployment. A deploy writes LOADING and NOTIFYs; each api process (the one
 * that took the request at once) exports the model if it has no ONNX yet, loads the
 * runtime, and writes READY or FAILED with the reason. At start an api process loads every
 * live deployment, so deployments survive restarts.
 */
export function createDeploymentManager(deps: {
  db: Db;
  notifier: Notifier;
  catalog: CatalogService;
  log: Logger;
  registry: RuntimeRegistry;
  onDemand: OnDemandModels;
  /** The data folder, redacted from load errors a client reads. */
  dataDir: string;
  exporter: OnnxExporter;
  quantized: QuantizedExports;
  adapters: AdapterStore;
  /** The largest LoRA rank served as an adapter (config.adapterMaxRank). */
  adapterMaxRank: number;
}) {
  const { db, registry, log } = deps;
  /** The adapter folder of each ADAPTER deployment loaded here. */
  const adapterOf = new Map<string, string>();
  const changes = new EventEmitter().setMaxListeners(0);
  const activating = new Map<string, { work: Promise<void>; mayExport: boolean }>();
  let serving = false;
  let unlisten: (() => Promise<void>) | undefined;
  let offReconnect: (() => void) | undefined;

  const changed = (id: string) => changes.emit('change', id);

  /**
   * Loads a live deployment's runtime in this process (once) and records the outcome.
   * `mayExport`: a process that merely heard of a new deployment does not export a model
   * that has no ONNX yet — the process that took the deploy does, and its READY brings
   * the others back here with the export in place (so replicas do not export at once).
   */
  function activate(dep: Deployment, mayExport = true): Promise<void> {
    const running = activating.get(dep.id);
    if (running) {
      // The deploy's own NOTIFY can arrive first and start an activation that may not
      // export; the deploy's activation then runs after it, or the deployment would stay
      // LOADING forever for a model without ONNX.
      return mayExport && !running.mayExport ? running.work.then(() => activate(dep, true)) : running.work;
    }
    if (registry.runtimeFor(dep.id)) return Promise.resolve();
    const work = (async () => {
      try {
        const model = await db.selectFrom('models').selectAll().where('id', '=', dep.model_id).executeTakeFirst();
        if (!model) throw new Error('the model no longer exists');
        const serving = await resolve(model, { servedAs: dep.served_as, quantization: dep.quantization });
        const loaded = await load(dep.id, model, serving, mayExport);
        if (!loaded) return;
        const live = await db.transaction().execute(async (trx) => {
          const ok = await markReady(trx, dep.id, {
            provider: loaded.runtime.host.provider,
            bytesOnDisk: loaded.bytesOnDisk,
            bytesInMemory: loaded.bytesInMemory,
          });
          if (ok) await notifyOnCommit(trx, channels.deployments, dep.id);
          return ok;
        });
        if (!live) await release(dep.id);
      } catch (err) {
        // The reason is stored and shown: exporter output may hold anything, so it is sanitised.
        const reason = sanitizeText(err instanceof Error ? err.message : String(err), 2_000);
        log.warn({ deployment: dep.id, model: dep.model_id, reason }, 'deployment failed to load');
        await release(dep.id).catch((e: unknown) => log.warn({ err: e, deployment: dep.id }, 'could not release a failed runtime'));
        await db
          .transaction()
          .execute(async (trx) => {
            await markFailed(trx, dep.id, reason);
            await notifyOnCommit(trx, channels.deployments, dep.id);
          })
          .catch((e: unknown) => log.error({ err: e, deployment: dep.id }, 'could not record a failed deployment'));
      } finally {
        activating.delete(dep.id);
        changed(dep.id);
      }
    })();
    activating.set(dep.id, { work, mayExport });
    return work;
  }

  function resolve(model: Model, req: ServingRequest): Promise<Serving> {
    return resolveServing(db, model, req, { maxRank: deps.adapterMaxRank });
  }

  /**
   * What loading `model` as `serving` says takes, with what is missing made: the runtime's
   * source (an export of the model, or of its base with LoRA inputs for an adapter) and the
   * bytes it will hold in memory (for an adapter its file's size, until its factors are
   * read). Undefined when an export is missing and `mayExport` is false.
   */
  async function prepare(model: Model, serving: Serving, mayExport = true): Promise<PreparedServing | undefined> {
    if (serving.servedAs === 'ADAPTER') {
      const targets = serving.adapter.targets;
      if (!mayExport && !(await exists(path.join(serving.base.storage_path, loraExportDir(targets), 'model.onnx')))) return undefined;
      const onnxPath = await deps.exporter.ensureLora(serving.base, targets);
      const onDisk = (await fs.stat(path.join(serving.adapterPath, 'adapter_model.safetensors'))).size;
      return {
        source: { id: serving.runtimeKey, onnxPath, modelDir: serving.base.storage_path },
        bytesOnDisk: onDisk,
        bytesInMemory: onDisk,
      };
    }
    // Quantized copies, like exports, are made by the process that took the deploy.
    if ((!model.onnx_path || serving.quantization !== 'NONE') && !mayExport) return undefined;
    const fp32 = await deps.exporter.ensure(model);
    return prepareMerged(serving, fp32, model);
  }

  /** A merged model's (or checkpoint's, on its base `weights`) runtime source from its float32 export, quantized as `serving` says. */
  async function prepareMerged(serving: Serving, fp32: string, weights: Model): Promise<PreparedServing> {
    const served = await deps.quantized.ensure(fp32, serving.quantization, Number(weights.parameter_count));
    return {
      source: { id: serving.runtimeKey, onnxPath: served.onnxPath, modelDir: weights.storage_path },
      bytesOnDisk: served.bytesOnDisk,
      bytesInMemory: served.bytesInMemory,
    };
  }

  /**
   * Loads what `prepare` made for `holderId` (a deployment, or anything that holds a model
   * loaded and lets go of it with `release`): acquires the shared runtime, and for an
   * adapter loads its factors into the adapter store.
   *
   * An adapter costs no export of its own, no merge and no new session once its base's
   * LoRA-input runtime is loaded: reading a few MB of factors.
   */
  async function attach(holderId: string, serving: Serving, prepared: PreparedServing): Promise<LoadedServing> {
    if (serving.servedAs === 'ADAPTER') {
      adapterOf.set(holderId, serving.adapterPath);
      const runtime = await registry.acquire(holderId, prepared.source);
      const layout = runtime.info.lora;
      if (!layout) throw new Error(`${prepared.source.onnxPath} is not a LoRA-input export`);
      const factors = await deps.adapters.get(serving.adapterPath, layout);
      return { runtime: runtime.withAdapter(factors), serving, bytesOnDisk: prepared.bytesOnDisk, bytesInMemory: adapterBytes(factors) };
    }
    const runtime = await registry.acquire(holderId, prepared.source);
    return { runtime, serving, bytesOnDisk: prepared.bytesOnDisk, bytesInMemory: prepared.bytesInMemory };
  }

  /** `prepare` then `attach`: loads `model` as `serving` says for `holderId`; undefined as `prepare` says. */
  async function load(holderId: string, model: Model, serving: Serving, mayExport = true): Promise<LoadedServing | undefined> {
    const prepared = await prepare(model, serving, mayExport);
    return prepared && attach(holderId, serving, prepared);
  }

  /** An on-demand model's loader (on-demand.ts): `prepare`, `attach` and `release`, as deployments load. */
  function onDemandLoader(serving: Serving, prepareIt: () => Promise<PreparedServing>): OnDemandLoader {
    return {
      prepare: async () => {
        const prepared = await prepareIt();
        return {
          bytes: prepared.bytesInMemory,
          load: async (holder) => (await attach(holder, serving, prepared)).bytesInMemory,
        };
      },
      runtime: (holder) => registry.runtimeFor(holder)?.then((runtime) => servingRuntime(holder, runtime)),
      release,
    };
  }

  async function release(holderId: string): Promise<void> {
    adapterOf.delete(holderId);
    await registry.release(holderId);
  }

  /** The runtime requests of a loaded holder go to: for an adapter, the shared runtime with its factors. */
  async function servingRuntime(holderId: string, runtime: ModelRuntime): Promise<ModelRuntime> {
    const dir = adapterOf.get(holderId);
    if (!dir) return runtime;
    const layout = runtime.info.lora;
    if (!layout) throw new Error('the adapter runtime is not a LoRA-input export');
    // Usually held already; read again after an eviction (the store's budget).
    return runtime.withAdapter(await deps.adapters.get(dir, layout));
  }

  /** Brings this process in line with a deployment's row (after a NOTIFY). */
  async function sync(id: string): Promise<void> {
    const dep = await deploymentById(db, id);
    if (dep && isLive(dep)) {
      if (serving) void activate(dep, dep.status === 'READY');
    } else {
      await release(id);
    }
    changed(id);
  }

  async function restore(): Promise<void> {
    const live = await liveDeployments(db);
    if (live.length) log.info({ deployments: live.length }, 'restoring deployments');
    for (const dep of live) void activate(dep);
  }

  async function getDeployment(accountId: string, id: string): Promise<Deployment> {
    const dep = await findDeployment(db, accountId, id);
    if (!dep) throw new NotFoundError('deployment', id);
    return dep;
  }

  /** Resolves on the next change of any deployment in this process, after `ms`, or on abort. */
  function nextChange(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        changes.off('change', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      changes.on('change', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * How an on-demand target is served, its entry's key and its loader: a fine-tuned model
   * as `resolveServing` decides with nothing asked for (an adapter's entry is keyed by the
   * fine-tune, whatever runtime it shares); a checkpoint merged on its job's base model.
   */
  async function onDemandServing(target: OnDemandTarget): Promise<{ key: string; serving: Serving; loader: OnDemandLoader }> {
    if ('model' in target) {
      const { model } = target;
      const serving = await resolve(model, {});
      const key = serving.servedAs === 'ADAPTER' ? model.id : serving.runtimeKey;
      return { key, serving, loader: onDemandLoader(serving, async () => (await prepare(model, serving)) as PreparedServing) };
    }
    const { checkpoint, base } = target;
    const quantization = servedQuantization(base);
    const serving: Serving = { servedAs: 'MERGED', quantization, runtimeKey: runtimeKey(checkpoint.id, quantization) };
    const loader = onDemandLoader(serving, async () =>
      prepareMerged(serving, await deps.exporter.ensureCheckpoint(checkpoint, base), base),
    );
    return { key: serving.runtimeKey, serving, loader };
  }

  return {
    /**
     * Deploys with the quantization asked for, or the model's default. The account's live
     * deployment of the model is answered instead when there is one — unless a different
     * quantization was asked for explicitly: DEPLOYMENT_EXISTS (undeploy it first), since
     * `model` in a request names one deployment.
     */
    async deploy(accountId: string, modelId: string, opts: DeployOptions = {}): Promise<DeployResult> {
      const model = await deps.catalog.getModel(accountId, modelId);
      const serving = await resolve(model, opts);
      const { quantization, servedAs } = serving;
      const result = await db.transaction().execute(async (trx) => {
        const r = await insertDeployment(trx, accountId, model.id, quantization, servedAs);
        if (r.created) await notifyOnCommit(trx, channels.deployments, r.deployment.id);
        return r;
      });
      const live = result.deployment;
      const differs =
        (opts.quantization != null && live.quantization !== quantization) || (opts.servedAs != null && live.served_as !== servedAs);
      if (!result.created && differs) {
        const as = (q: string, s: string) => (s === 'ADAPTER' ? 'an adapter' : q);
        throw new DomainError(
          'DEPLOYMENT_EXISTS',
          `model "${model.id}" is already deployed for your account as ${as(live.quantization, live.served_as)} (${live.id}); undeploy it first to deploy it as ${as(quantization, servedAs)}`,
          409,
          { deploymentId: live.id, quantization: live.quantization, servedAs: live.served_as },
        );
      }
      if (serving) void activate(result.deployment);
      return result;
    },

    async undeploy(accountId: string, id: string): Promise<Deployment> {
      const dep = await db.transaction().execute(async (trx) => {
        const row = await markUndeployed(trx, accountId, id);
        if (row) await notifyOnCommit(trx, channels.deployments, row.id);
        return row;
      });
      if (!dep) throw new NotFoundError('deployment', id);
      await release(dep.id);
      changed(dep.id);
      return dep;
    },

    getDeployment,
    findDeployment: (accountId: string, id: string) => findDeployment(db, accountId, id),
    listDeployments: (accountId: string, opts: { includeUndeployed?: boolean } = {}) =>
      listDeployments(db, accountId, opts.includeUndeployed ?? false),

    /**
     * Resolves once the deployment is READY (and, in an api process, its runtime is loaded
     * here); throws DEPLOYMENT_FAILED with the reason, or TIMEOUT.
     */
    async waitReady(accountId: string, id: string, opts: WaitOptions = {}): Promise<Deployment> {
      const deadline = Date.now() + (opts.timeoutMs ?? 5 * 60_000);
      for (;;) {
        const dep = await getDeployment(accountId, id);
        if (dep.status === 'FAILED') {
          throw new DomainError('DEPLOYMENT_FAILED', `deployment ${id} failed: ${dep.error ?? 'unknown reason'}`, 409, {
            reason: dep.error,
          });
        }
        if (dep.status === 'UNDEPLOYED') throw new DomainError('DEPLOYMENT_UNDEPLOYED', `deployment ${id} was undeployed`, 409);
        if (dep.status === 'READY') {
          if (!serving || registry.isLoaded(dep.id)) return dep;
          void activate(dep);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new DomainError('TIMEOUT', `deployment ${id} is still ${dep.status} after waiting`, 504);
        if (opts.signal?.aborted) throw new DomainError('CANCELLED', 'the wait was cancelled', 499);
        await nextChange(Math.min(left, 500), opts.signal);
      }
    },

    /**
     * The runtime serving the account's live deployment, loading it here if needed (a
     * request can arrive before this process heard of a new deployment).
     */
    async runtimeFor(dep: Deployment, signal?: AbortSignal): Promise<ModelRuntime> {
      const wait = <T>(p: Promise<T>) => waitForLoad(p, dep.model_id, signal);
      let pending = registry.runtimeFor(dep.id);
      if (!pending) {
        await wait(activate(dep));
        pending = registry.runtimeFor(dep.id);
      }
      if (!pending) {
        const row = await deploymentById(db, dep.id);
        throw new ModelNotDeployedError(dep.model_id, row?.error ? `its deployment failed: ${row.error}` : undefined);
      }
      try {
        return await wait(pending.then((runtime) => servingRuntime(dep.id, runtime)));
      } catch (err) {
        if (err instanceof DomainError) throw err;
        throw new ModelNotDeployedError(dep.model_id, `its runtime failed to load: ${(err as Error).message}`);
      }
    },

    /** How a model would be served (serving.ts): for on-demand loading, which has no deployment row. */
    resolveServing: resolve,
    /** Loads a model for a holder as `serving` says (see `load`); `releaseServing` lets go of it. */
    loadServing: (holderId: string, model: Model, serving: Serving) => load(holderId, model, serving),
    releaseServing: release,
    /**
     * A lease on the runtime of a model served without a deployment, loading it here on
     * first use (docs/inference.md § On-demand models), served as a deployment of it with
     * no servedAs or quantization asked for would be (`resolveServing`): a LoRA fine-tune
     * as its adapter over its base's shared LoRA-input runtime where it can be, else the
     * model's ONNX export (made on first use, like a first deploy's) with its default
     * quantization; a checkpoint as its export on the job's base model (its weights merged
     * in), with the base's default quantization. The caller releases the lease when its
     * request is done.
     */
    async onDemandRuntime(target: OnDemandTarget, signal?: AbortSignal): Promise<OnDemandLease> {
      const modelId = 'model' in target ? target.model.id : target.checkpoint.id;
      const failed = (err: unknown) =>
        err instanceof DomainError
          ? err
          : new ModelLoadFailedError(modelId, redactServerPaths(sanitizeText((err as Error).message, 2_000), deps.dataDir));
      const how = await onDemandServing(target).catch((err: unknown) => {
        throw failed(err);
      });
      const pending = deps.onDemand.acquire(how.key, modelId, how.serving.servedAs, how.loader);
      try {
        return await waitForLoad(pending, modelId, signal);
      } catch (err) {
        // A request that stopped waiting must not keep the model held once it loads.
        pending.then(
          (lease) => lease.release(),
          () => {},
        );
        throw failed(err);
      }
    },

    /** Starts serving (api role): follow deployment changes, then load every live deployment. */
    async start(): Promise<void> {
      serving = true;
      unlisten = await deps.notifier.listen(channels.deployments, (id) => {
        sync(id).catch((err: unknown) => log.error({ err, deployment: id }, 'deployment sync failed'));
      });
      offReconnect = deps.notifier.onReconnect(() => {
        restore().catch((err: unknown) => log.error({ err }, 'restoring deployments failed'));
      });
      await restore();
    },

    async stop(): Promise<void> {
      serving = false;
      offReconnect?.();
      await unlisten?.();
      await Promise.allSettled([...activating.values()].map((a) => a.work));
      await deps.onDemand.close();
      await registry.close();
    },
  };
}

export type DeploymentManager = ReturnType<typeof createDeploymentManager>;
