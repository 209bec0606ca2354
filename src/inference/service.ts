import { availableCores } from '../config.js';
import type { Deployment, InferenceUsage } from '../db/tables/inference.js';
import type { Runner, Roles } from '../runner.js';
import type { ServiceDeps } from '../service-deps.js';
import { createDeploymentManager } from './deployments.js';
import type { DeployOptions, DeployResult, WaitOptions } from './deployments.js';
import { createGenerator } from './generation.js';
import type { GenerateRequest, Generation, GenerationResult } from './generation.js';
import { releaseAbandonedReservations } from './metering.js';
import { createOnnxExporter } from './onnx-export.js';
import { createQuantizedExports } from './quantized-export.js';
import { RuntimeRegistry } from './runtime-registry.js';
import { AdapterStore } from './adapter-store.js';
import type { AdapterStoreStats } from './adapter-store.js';
import { OnDemandModels } from './on-demand.js';
import type { OnDemandModelState } from './on-demand.js';
import { listUsage } from './store/usage.js';
import { usageListing } from './usage-listing.js';
import { findCheckpointModel } from '../catalog/checkpoint-models.js';
import { DomainError } from '../errors.js';
import { deleteCheckpoint } from '../training/checkpoints.js';

export type { DeployOptions, DeployResult, WaitOptions } from './deployments.js';
export type { OnDemandModelState } from './on-demand.js';
export type {
  GenerateRequest,
  Generation,
  GenerationChoice,
  GenerationPiece,
  GenerationResult,
  FinishReason,
  TokenLogprobView,
} from './generation.js';
export type { GenerationParams, PromptInput } from './params.js';

export interface UsagePage {
  usage: InferenceUsage[];
  hasNextPage: boolean;
}

/**
 * Deployments and generation, for every transport (GraphQL, REST, the OpenAI routes, the
 * CLI and tests alike).
 */
export interface InferenceService {
  /**
   * Deploys a model the account can see (base models: anyone; fine-tuned: the owner).
   * Returns at once with status LOADING (or the account's live deployment of the model);
   * the api processes load it and mark it READY or FAILED. `quantization` (NONE, INT8,
   * INT4) defaults to the model's default quantization; `servedAs` (ADAPTER, MERGED)
   * defaults to ADAPTER for a LoRA fine-tune that can be served so (serving.ts).
   */
  deploy(accountId: string, modelId: string, opts?: DeployOptions): Promise<DeployResult>;
  /** Marks the deployment UNDEPLOYED; requests in flight finish, new ones are refused. */
  undeploy(accountId: string, deploymentId: string): Promise<Deployment>;
  getDeployment(accountId: string, deploymentId: string): Promise<Deployment>;
  findDeployment(accountId: string, deploymentId: string): Promise<Deployment | undefined>;
  /** Newest first; undeployed ones only when asked. */
  listDeployments(accountId: string, opts?: { includeUndeployed?: boolean }): Promise<Deployment[]>;
  /** Resolves when the deployment can serve here; DEPLOYMENT_FAILED (with the reason) or TIMEOUT otherwise. */
  waitReady(accountId: string, deploymentId: string, opts?: WaitOptions): Promise<Deployment>;
  /**
   * Admits a request (validation, queue place, reserved funds) and starts generating; the
   * returned Generation streams text and resolves `result`. Throws the admission error.
   */
  generate(request: GenerateRequest): Promise<Generation>;
  /**
   * Deletes one of the account's fine-tuned models (it answers like a missing model from
   * then on; its history stays) or a checkpoint of one of its finished jobs (row and
   * files). A model with a live deployment: MODEL_IN_USE (409) — undeploy it first.
   */
  deleteModel(accountId: string, modelId: string): Promise<{ kind: 'model' | 'checkpoint' }>;
  /** `generate` to the end. */
  complete(request: GenerateRequest): Promise<GenerationResult>;
  /**
   * The fine-tuned models and checkpoints loaded on demand in this process (no
   * deployment), least recently used first — for operators, benchmarks and tests.
   */
  onDemandModels(): OnDemandModelState[];
  /** Every runtime loaded in this process, deployed or on demand (`<model id>` or `<model id>@<quantization>`). */
  loadedRuntimes(): string[];
  /** How many times this process loaded a model on demand (each reload after an unload counts). */
  onDemandLoadCount(modelId: string): number;
  /** The account's requests, newest first (what each used and cost). */
  listUsage(accountId: string, opts?: { first?: number | null; after?: string | null }): Promise<UsagePage>;
  /** LoRA adapters held in this process (adapter-store.ts). */
  adapterStats(): AdapterStoreStats;
  runners(roles: Roles): Runner[];
  close(): Promise<void>;
}

/** Abandoned inference reservations (their process died mid-request) are released after this. */
const ABANDONED_AFTER_MS = 2 * 60 * 60_000;
const SWEEP_EVERY_MS = 10 * 60_000;

export function createInferenceService(deps: ServiceDeps): InferenceService {
  const { config, db, log } = deps;
  const registry = new RuntimeRegistry({
    providers: config.inferenceProviders,
    threads: config.inferenceThreads > 0 ? config.inferenceThreads : availableCores(),
    maxBatch: Math.max(1, config.inferenceMaxBatch),
    maxQueue: Math.max(0, config.inferenceMaxQueue),
    log,
  });
  const adapters = new AdapterStore(config.adapterMemoryBytes);
  const onDemand = new OnDemandModels({
    idleMs: Math.max(0, config.onDemandIdleMs),
    budgetBytes: Math.max(0, config.onDemandMemoryBytes),
    log,
  });
  const deployments = createDeploymentManager({
    db,
    notifier: deps.notifier,
    catalog: deps.catalog,
    log,
    registry,
    onDemand,
    dataDir: config.dataDir,
    exporter: createOnnxExporter({ catalog: deps.catalog, python: config.python }),
    quantized: createQuantizedExports({ python: config.python }),
    adapters,
    adapterMaxRank: config.adapterMaxRank,
  });
  const generator = createGenerator({ db, catalog: deps.catalog, log, deployments });
  let sweeper: NodeJS.Timeout | undefined;

  const sweep = () =>
    releaseAbandonedReservations(db, ABANDONED_AFTER_MS).then(
      (n) => n && log.warn({ released: n }, 'released abandoned inference reservations'),
      (err: unknown) => log.error({ err }, 'releasing abandoned inference reservations failed'),
    );

  return {
    deploy: deployments.deploy,
    undeploy: deployments.undeploy,
    getDeployment: deployments.getDeployment,
    findDeployment: deployments.findDeployment,
    listDeployments: deployments.listDeployments,
    waitReady: deployments.waitReady,
    generate: generator.generate,
    complete: generator.complete,
    adapterStats: () => adapters.stats,

    async deleteModel(accountId, modelId) {
      if (!(await deps.catalog.findModel(accountId, modelId))) {
        const checkpoint = await findCheckpointModel(db, accountId, modelId);
        if (checkpoint) {
          await deleteCheckpoint(db, checkpoint);
          return { kind: 'checkpoint' };
        }
      }
      await db.transaction().execute(async (trx) => {
        await deps.catalog.markDeleted(trx, accountId, modelId);
        const live = await trx
          .selectFrom('deployments')
          .select('id')
          .where('model_id', '=', modelId)
          .where('status', '<>', 'UNDEPLOYED')
          .executeTakeFirst();
        if (live) {
          throw new DomainError('MODEL_IN_USE', `model "${modelId}" is deployed (${live.id}); undeploy it first`, 409, {
            field: 'model',
            deploymentId: live.id,
          });
        }
      });
      deps.catalog.invalidateListings();
      return { kind: 'model' };
    },
    onDemandModels: () => onDemand.state(),
    loadedRuntimes: () => registry.loadedKeys(),
    onDemandLoadCount: (modelId) => onDemand.loadCount(modelId),

    async listUsage(accountId, opts = {}) {
      const { first, after } = usageListing.request(opts);
      const rows = await listUsage(db, accountId, first + 1, after);
      return { usage: rows.slice(0, first), hasNextPage: rows.length > first };
    },

    runners(roles) {
      if (!roles.api) return [];
      return [
        {
          name: 'inference',
          async start() {
            await deployments.start();
            void sweep();
            sweeper = setInterval(() => void sweep(), SWEEP_EVERY_MS);
            sweeper.unref();
          },
          async stop() {
            clearInterval(sweeper);
            await deployments.stop();
          },
        },
      ];
    },

    async close() {
      clearInterval(sweeper);
      await onDemand.close();
      await registry.close();
    },
  };
}
