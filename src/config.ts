import os from 'node:os';
import path from 'node:path';
import type { LogFormat } from './log.js';
import { PACKAGE_ROOT } from './package-root.js';

/**
 * Runtime configuration, resolved once from flags and the environment.
 * The environment names are public (README's configuration table; docs/ARCHITECTURE.md,
 * "Public names"); everything has a default that suits the zero-setup single-machine mode.
 */
export interface Config {
  /** postgres://… for a PostgreSQL server; undefined = embedded PGlite in `<dataDir>/db`. */
  databaseUrl: string | undefined;
  dataDir: string;
  host: string;
  port: number;
  /** Interpreter that has PyTorch; undefined = resolve automatically. */
  python: string | undefined;
  webhookAllowPrivate: boolean;
  /** Operator-allowed roots for `{path}` dataset intake; empty = path intake disabled. */
  datasetRoots: string[];
  /** Let `{url}` dataset intake reach loopback/private addresses (TUNELOOP_DATASET_ALLOW_PRIVATE_URLS=1; tests). */
  datasetAllowPrivateUrls: boolean;
  /** Largest dataset file accepted, in bytes (TUNELOOP_DATASET_MAX_BYTES; default 512 MiB). */
  datasetMaxBytes: number;
  /** Fewest examples a READY dataset has (TUNELOOP_DATASET_MIN_EXAMPLES; default 10). */
  datasetMinExamples: number;
  /** Most examples a dataset may have (TUNELOOP_DATASET_MAX_EXAMPLES; default 1,000,000). */
  datasetMaxExamples: number;
  /** Tokens one example may have (TUNELOOP_DATASET_MAX_TOKENS_PER_EXAMPLE); null = the model's context length. */
  datasetMaxTokensPerExample: number | null;
  /** Time limit of a `{url}` download, redirects included (TUNELOOP_DATASET_FETCH_TIMEOUT_MS; default 60 s). */
  datasetFetchTimeoutMs: number;
  logLevel: string;
  /** LOG_FORMAT: `pretty` or `json`; undefined = pretty on a terminal, JSON lines otherwise. */
  logFormat: LogFormat | undefined;
  /** Seconds an API-key lookup stays cached. */
  authCacheSeconds: number;
  /** Trainer worker: jobs run at once by one worker process. */
  workerConcurrency: number;
  /** Lease a worker holds on a running job; renewed every leaseSeconds / 3. */
  leaseSeconds: number;
  /** A job that lost its worker this many times is failed. */
  maxAttempts: number;
  /** Multiplies the webhook retry schedule (tests shorten it). */
  webhookRetryFactor: number;
  /** Inference: onnxruntime execution providers to try in order, e.g. ["cuda"]; `cpu` is always the fallback. */
  inferenceProviders: string[];
  /** Inference: intra-op threads of each model session; 0 = every available core. */
  inferenceThreads: number;
  /** Inference: requests one model decodes together (continuous batching). */
  inferenceMaxBatch: number;
  /** Inference: requests that may wait for a batch slot; beyond this, 429 with Retry-After. */
  inferenceMaxQueue: number;
  /** Inference: bytes of LoRA adapter factors held in memory per process (TUNELOOP_ADAPTER_MEMORY_BYTES; default 1 GiB); least recently used ones are evicted beyond it. */
  adapterMemoryBytes: number;
  /** Inference: the largest LoRA rank served as an adapter (TUNELOOP_ADAPTER_MAX_RANK; default 64); larger ranks are served merged. */
  adapterMaxRank: number;
  /**
   * Inference: a fine-tuned model or checkpoint called without a deployment (loaded on
   * demand) is unloaded after this many milliseconds without a request
   * (TUNELOOP_ONDEMAND_IDLE_SECONDS; default 600 s).
   */
  onDemandIdleMs: number;
  /**
   * Inference: weight bytes the models loaded on demand may take together in one process;
   * loading one more unloads the least recently used idle ones first
   * (TUNELOOP_ONDEMAND_MEMORY_BYTES; default 4 GiB). Explicit deployments do not count.
   */
  onDemandMemoryBytes: number;
  /** A webhook attempt that has not answered within this many milliseconds fails (and is retried). */
  webhookTimeoutMs: number;
  /** /readyz answers 503 while the data folder has less free space than this (TUNELOOP_MIN_FREE_BYTES; default 256 MiB; 0 = off). */
  minFreeBytes: number;
  /** The built web console served at / (TUNELOOP_CONSOLE_DIR; default `dist/console` in the package). */
  consoleDir: string;
  /** A request body that stops arriving for this many milliseconds is answered 408 (TUNELOOP_BODY_TIMEOUT_MS; 0 = never). */
  bodyTimeoutMs: number;
}

function envInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got "${raw}"`);
  return value;
}

function envLogFormat(env: NodeJS.ProcessEnv): LogFormat | undefined {
  const raw = env.LOG_FORMAT;
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'pretty' || raw === 'json') return raw;
  throw new Error(`LOG_FORMAT must be "pretty" or "json", got "${raw}"`);
}

/** Builds the configuration from `overrides` (flags), then the environment, then defaults. */
export function loadConfig(overrides: Partial<Config> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(overrides.dataDir ?? env.TUNELOOP_DATA_DIR ?? './.tuneloop');
  return {
    databaseUrl: overrides.databaseUrl ?? (env.DATABASE_URL || undefined),
    dataDir,
    host: overrides.host ?? env.HOST ?? '0.0.0.0',
    port: overrides.port ?? envInt(env, 'PORT', 4000),
    python: overrides.python ?? (env.TUNELOOP_PYTHON || undefined),
    webhookAllowPrivate: overrides.webhookAllowPrivate ?? env.TUNELOOP_WEBHOOK_ALLOW_PRIVATE === '1',
    datasetRoots:
      overrides.datasetRoots ?? (env.TUNELOOP_DATASET_ROOTS ? env.TUNELOOP_DATASET_ROOTS.split(path.delimiter).filter(Boolean) : []),
    datasetAllowPrivateUrls: overrides.datasetAllowPrivateUrls ?? env.TUNELOOP_DATASET_ALLOW_PRIVATE_URLS === '1',
    datasetMaxBytes: overrides.datasetMaxBytes ?? envInt(env, 'TUNELOOP_DATASET_MAX_BYTES', 512 * 1024 * 1024),
    datasetMinExamples: overrides.datasetMinExamples ?? envInt(env, 'TUNELOOP_DATASET_MIN_EXAMPLES', 10),
    datasetMaxExamples: overrides.datasetMaxExamples ?? envInt(env, 'TUNELOOP_DATASET_MAX_EXAMPLES', 1_000_000),
    datasetMaxTokensPerExample:
      overrides.datasetMaxTokensPerExample !== undefined
        ? overrides.datasetMaxTokensPerExample
        : env.TUNELOOP_DATASET_MAX_TOKENS_PER_EXAMPLE
          ? envInt(env, 'TUNELOOP_DATASET_MAX_TOKENS_PER_EXAMPLE', 0)
          : null,
    datasetFetchTimeoutMs: overrides.datasetFetchTimeoutMs ?? envInt(env, 'TUNELOOP_DATASET_FETCH_TIMEOUT_MS', 60_000),
    logLevel: overrides.logLevel ?? env.LOG_LEVEL ?? 'info',
    logFormat: overrides.logFormat ?? envLogFormat(env),
    authCacheSeconds: overrides.authCacheSeconds ?? envInt(env, 'TUNELOOP_AUTH_CACHE_SECONDS', 30),
    workerConcurrency: overrides.workerConcurrency ?? envInt(env, 'TUNELOOP_WORKER_CONCURRENCY', 1),
    leaseSeconds: overrides.leaseSeconds ?? envInt(env, 'TUNELOOP_LEASE_SECONDS', 30),
    maxAttempts: overrides.maxAttempts ?? envInt(env, 'TUNELOOP_MAX_ATTEMPTS', 3),
    webhookRetryFactor: overrides.webhookRetryFactor ?? envInt(env, 'TUNELOOP_WEBHOOK_RETRY_FACTOR', 1),
    inferenceProviders:
      overrides.inferenceProviders ??
      (env.TUNELOOP_INFERENCE_PROVIDERS ?? 'cpu')
        .split(',')
        .map((p) => p.trim().toLowerCase())
        .filter(Boolean),
    inferenceThreads: overrides.inferenceThreads ?? envInt(env, 'TUNELOOP_INFERENCE_THREADS', 0),
    inferenceMaxBatch: overrides.inferenceMaxBatch ?? envInt(env, 'TUNELOOP_INFERENCE_MAX_BATCH', 8),
    inferenceMaxQueue: overrides.inferenceMaxQueue ?? envInt(env, 'TUNELOOP_INFERENCE_MAX_QUEUE', 32),
    adapterMemoryBytes: overrides.adapterMemoryBytes ?? envInt(env, 'TUNELOOP_ADAPTER_MEMORY_BYTES', 1024 * 1024 * 1024),
    adapterMaxRank: overrides.adapterMaxRank ?? envInt(env, 'TUNELOOP_ADAPTER_MAX_RANK', 64),
    onDemandIdleMs: overrides.onDemandIdleMs ?? envInt(env, 'TUNELOOP_ONDEMAND_IDLE_SECONDS', 600) * 1000,
    onDemandMemoryBytes: overrides.onDemandMemoryBytes ?? envInt(env, 'TUNELOOP_ONDEMAND_MEMORY_BYTES', 4 * 1024 ** 3),
    webhookTimeoutMs: overrides.webhookTimeoutMs ?? envInt(env, 'TUNELOOP_WEBHOOK_TIMEOUT_MS', 15_000),
    minFreeBytes: overrides.minFreeBytes ?? envInt(env, 'TUNELOOP_MIN_FREE_BYTES', 256 * 1024 * 1024),
    consoleDir: path.resolve(overrides.consoleDir ?? (env.TUNELOOP_CONSOLE_DIR || path.join(PACKAGE_ROOT, 'dist', 'console'))),
    bodyTimeoutMs: overrides.bodyTimeoutMs ?? envInt(env, 'TUNELOOP_BODY_TIMEOUT_MS', 30_000),
  };
}

/** CPU cores this process may use (cgroup/affinity aware where Node exposes it). */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}
