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
import { parseQuantization } from '../catalog/quantization.js';
import type { Quantization } from '../catalog/quantization.js';
import type { Model } from '../db/schema.js';
import type { ModelRuntime, RuntimeRegistry } from './runtime-registry.js';
import type { OnDemandLease, OnDemandModels } from './on-demand.js';
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
}

export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** How long a request waits for its deployment's runtime to load before 503. */
const LOAD_WAIT_MS = 60_000;

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

/**
 * The quantization a model is served with: the one asked for, else the model's default
 * from the catalog (NONE unless an admin set one). Every way of loading a model —
 * deployModel, REST, and any loading without an explicit deployment — goes through this.
 * Throws UNSUPPORTED_QUANTIZATION for anything but NONE, INT8 and INT4.
 */
export function servedQuantization(model: Model, requested?: string | null): Quantization {
  return requested === undefined || requested === null ? model.default_quantization : parseQuantization(requested);
}

/** Runtimes are shared per model and quantization: `tiny`, `tiny@INT4`. */
export const runtimeKey = (modelId: string, quantization: Quantization) =>
  quantization === 'NONE' ? modelId : `${modelId}@${quantization}`;

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
}) {
  const { db, registry, log } = deps;
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
        // Quantized copies, like exports, are made by the process that took the deploy.
        if ((!model.onnx_path || dep.quantization !== 'NONE') && !mayExport) return;
        const fp32 = await deps.exporter.ensure(model);
        const served = await deps.quantized.ensure(fp32, dep.quantization, Number(model.parameter_count));
        const runtime = await registry.acquire(dep.id, {
          id: runtimeKey(model.id, dep.quantization),
          onnxPath: served.onnxPath,
          modelDir: model.storage_path,
        });
        const live = await db.transaction().execute(async (trx) => {
          const ok = await markReady(trx, dep.id, {
            provider: runtime.host.provider,
            bytesOnDisk: served.bytesOnDisk,
            bytesInMemory: served.bytesInMemory,
          });
          if (ok) await notifyOnCommit(trx, channels.deployments, dep.id);
          return ok;
        });
        if (!live) await registry.release(dep.id);
      } catch (err) {
        // The reason is stored and shown: exporter output may hold anything, so it is sanitised.
        const reason = sanitizeText(err instanceof Error ? err.message : String(err), 2_000);
        log.warn({ deployment: dep.id, model: dep.model_id, reason }, 'deployment failed to load');
        await registry
          .release(dep.id)
          .catch((e: unknown) => log.warn({ err: e, deployment: dep.id }, 'could not release a failed runtime'));
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

  /** Brings this process in line with a deployment's row (after a NOTIFY). */
  async function sync(id: string): Promise<void> {
    const dep = await deploymentById(db, id);
    if (dep && isLive(dep)) {
      if (serving) void activate(dep, dep.status === 'READY');
    } else {
      await registry.release(id);
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

  return {
    /**
     * Deploys with the quantization asked for, or the model's default. The account's live
     * deployment of the model is answered instead when there is one — unless a different
     * quantization was asked for explicitly: DEPLOYMENT_EXISTS (undeploy it first), since
     * `model` in a request names one deployment.
     */
    async deploy(accountId: string, modelId: string, opts: DeployOptions = {}): Promise<DeployResult> {
      const model = await deps.catalog.getModel(accountId, modelId);
      const quantization = servedQuantization(model, opts.quantization);
      const result = await db.transaction().execute(async (trx) => {
        const r = await insertDeployment(trx, accountId, model.id, quantization);
        if (r.created) await notifyOnCommit(trx, channels.deployments, r.deployment.id);
        return r;
      });
      const live = result.deployment;
      if (!result.created && opts.quantization != null && live.quantization !== quantization) {
        throw new DomainError(
          'DEPLOYMENT_EXISTS',
          `model "${model.id}" is already deployed for your account as ${live.quantization} (${live.id}); undeploy it first to deploy it as ${quantization}`,
          409,
          { deploymentId: live.id, quantization: live.quantization },
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
      await registry.release(dep.id);
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
        return await wait(pending);
      } catch (err) {
        if (err instanceof DomainError) throw err;
        throw new ModelNotDeployedError(dep.model_id, `its runtime failed to load: ${(err as Error).message}`);
      }
    },

    /**
     * A lease on the runtime of a model served without a deployment, loading it here on
     * first use (docs/inference.md § On-demand models): a fine-tuned model's ONNX export
     * (made on first use, like a first deploy's), or a checkpoint's (its weights merged
     * into the job's base model), with the model's default quantization. The caller
     * releases the lease when its request is done.
     */
    async onDemandRuntime(target: OnDemandTarget, signal?: AbortSignal): Promise<OnDemandLease> {
      const modelId = 'model' in target ? target.model.id : target.checkpoint.id;
      const weights = 'model' in target ? target.model : target.base;
      const quantization = servedQuantization(weights);
      const key = runtimeKey(modelId, quantization);
      const pending = deps.onDemand.acquire(key, modelId, async () => {
        const fp32 =
          'model' in target
            ? await deps.exporter.ensure(target.model)
            : await deps.exporter.ensureCheckpoint(target.checkpoint, target.base);
        const served = await deps.quantized.ensure(fp32, quantization, Number(weights.parameter_count));
        return { source: { id: key, onnxPath: served.onnxPath, modelDir: weights.storage_path }, bytes: served.bytesInMemory };
      });
      try {
        return await waitForLoad(pending, modelId, signal);
      } catch (err) {
        // A request that stopped waiting must not keep the model held once it loads.
        pending.then(
          (lease) => lease.release(),
          () => {},
        );
        if (err instanceof DomainError) throw err;
        throw new ModelLoadFailedError(modelId, redactServerPaths(sanitizeText((err as Error).message, 2_000), deps.dataDir));
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
