import type { Logger } from '../log.js';
import { ModelHost } from './model-host.js';
import { ModelTokenizer } from '../tokenizer/model-tokenizer.js';
import type { OnnxModelInfo } from './runtime/onnx-info.js';
import type { JobHandlers } from './model-host.js';
import type { GenerationJob } from './runtime/protocol.js';
import type { AdapterFactors } from './runtime/lora-stack.js';

export interface RuntimeOptions {
  providers: string[];
  threads: number;
  maxBatch: number;
  maxQueue: number;
  log: Logger;
}

export interface ModelSource {
  /** What the runtime is shared by: the model id, plus its quantization when there is one (`tiny@INT4`). */
  id: string;
  onnxPath: string;
  modelDir: string;
}

/**
 * A loaded model in this process: its worker, the api-side tokenizer (prompts are counted
 * before money is reserved), and admission control. `admitted` counts requests accepted
 * and not finished — decoding, prefilling or queued — and is checked and incremented
 * synchronously, so concurrent requests cannot overshoot the bound.
 */
export class ModelRuntime {
  admitted = 0;
  /** Moving average of request durations (ms), for Retry-After. */
  private averageMs = 2_000;

  constructor(
    readonly modelId: string,
    readonly host: ModelHost,
    readonly tokenizer: ModelTokenizer,
    private readonly limits: { maxBatch: number; maxQueue: number },
    /** Set on an adapter's view of a base runtime (`withAdapter`): its jobs carry these factors. */
    readonly adapter?: AdapterFactors,
    private readonly shared?: ModelRuntime,
  ) {}

  get info(): OnnxModelInfo {
    return this.host.info;
  }

  /**
   * This (LoRA-input) runtime serving one adapter: the same worker, batch, queue bound and
   * tokenizer — requests of every adapter and of the base decode in one batch — with the
   * adapter's factors attached to each job.
   */
  withAdapter(adapter: AdapterFactors): ModelRuntime {
    const root = this.shared ?? this;
    return new ModelRuntime(root.modelId, root.host, root.tokenizer, root.limits, adapter, root);
  }

  /** Starts a job on the worker; returns its cancel function (model-host.ts `submit`). */
  submit(job: GenerationJob, handlers: JobHandlers): () => void {
    return this.host.submit(this.adapter ? { ...job, adapter: this.adapter } : job, handlers);
  }

  /** Takes a place for one request, or returns false when batch and queue are full. */
  tryAdmit(): boolean {
    if (this.shared) return this.shared.tryAdmit();
    if (this.admitted >= this.limits.maxBatch + this.limits.maxQueue) return false;
    this.admitted++;
    return true;
  }

  /** Gives the place back; `ms` is how long the request ran. */
  release(ms?: number): void {
    if (this.shared) {
      this.shared.release(ms);
      return;
    }
    this.admitted--;
    if (ms !== undefined) this.averageMs = 0.8 * this.averageMs + 0.2 * ms;
  }

  /** When a place is likely free: the queue ahead drains `maxBatch` requests per average duration. */
  retryAfterSeconds(): number {
    if (this.shared) return this.shared.retryAfterSeconds();
    const ahead = Math.max(1, this.admitted - this.limits.maxBatch + 1);
    return Math.min(60, Math.max(1, Math.ceil(((this.averageMs / 1000) * ahead) / this.limits.maxBatch)));
  }
}

interface Entry {
  source: ModelSource;
  runtime: Promise<ModelRuntime>;
  /** Set once `runtime` resolved (and while its worker is alive). */
  loaded?: ModelRuntime;
  deployments: Set<string>;
}

/**
 * The models this process serves, one runtime per model shared by every deployment of it
 * (two accounts deploying the same base model load it once). A runtime whose worker died
 * is started again on the next request.
 */
export class RuntimeRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly modelOf = new Map<string, string>();

  constructor(private readonly options: RuntimeOptions) {}

  /** Serves `deploymentId` from `source`'s runtime, loading it if needed; rejects with the load error. */
  acquire(deploymentId: string, source: ModelSource): Promise<ModelRuntime> {
    let entry = this.entries.get(source.id);
    if (!entry) {
      entry = { source, runtime: this.start(source), deployments: new Set() };
      this.entries.set(source.id, entry);
      const loading = entry;
      entry.runtime.then(
        (runtime) => (loading.loaded = runtime),
        () => {},
      );
      const failed = entry;
      entry.runtime.catch(() => {
        if (this.entries.get(source.id) === failed) this.entries.delete(source.id);
        for (const id of failed.deployments) this.modelOf.delete(id);
      });
    }
    entry.deployments.add(deploymentId);
    this.modelOf.set(deploymentId, source.id);
    return this.current(entry);
  }

  /** The runtime serving a deployment here (loaded or loading), or undefined. */
  runtimeFor(deploymentId: string): Promise<ModelRuntime> | undefined {
    const modelId = this.modelOf.get(deploymentId);
    const entry = modelId ? this.entries.get(modelId) : undefined;
    return entry ? this.current(entry) : undefined;
  }

  /** Whether a deployment's runtime is loaded here and able to take requests now. */
  isLoaded(deploymentId: string): boolean {
    const modelId = this.modelOf.get(deploymentId);
    return (modelId ? this.entries.get(modelId)?.loaded?.host.alive : false) ?? false;
  }

  /** The runtimes loaded here with a live worker (`tiny`, `tiny@INT4`, …), for operators and tests. */
  loadedKeys(): string[] {
    return [...this.entries.entries()].filter(([, e]) => e.loaded?.host.alive).map(([key]) => key);
  }

  /** Stops serving a deployment; the runtime closes with its last deployment. */
  async release(deploymentId: string): Promise<void> {
    const modelId = this.modelOf.get(deploymentId);
    if (!modelId) return;
    this.modelOf.delete(deploymentId);
    const entry = this.entries.get(modelId);
    if (!entry) return;
    entry.deployments.delete(deploymentId);
    if (entry.deployments.size > 0) return;
    this.entries.delete(modelId);
    const runtime = await entry.runtime.catch(() => undefined);
    await runtime?.host.close();
  }

  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    this.modelOf.clear();
    await Promise.all(all.map(async (e) => (await e.runtime.catch(() => undefined))?.host.close()));
  }

  private current(entry: Entry): Promise<ModelRuntime> {
    // Restart a runtime whose worker died (crash, out of memory); its requests already failed.
    entry.runtime = entry.runtime.then((runtime) => {
      if (runtime.host.alive) return runtime;
      this.options.log.warn({ model: entry.source.id }, 'restarting the model runtime');
      entry.loaded = undefined;
      return this.start(entry.source).then((restarted) => (entry.loaded = restarted));
    });
    return entry.runtime;
  }

  private async start(source: ModelSource): Promise<ModelRuntime> {
    const { providers, threads, maxBatch, maxQueue, log } = this.options;
    const tokenizer = await ModelTokenizer.load(source.modelDir);
    const host = await ModelHost.start({ onnxPath: source.onnxPath, modelDir: source.modelDir, providers, threads, maxBatch, log });
    log.info({ model: source.id, provider: host.provider }, 'model runtime loaded');
    const preferred = providers.find((p) => p !== 'cpu');
    if (preferred && host.provider !== preferred) {
      log.warn(
        { model: source.id, requested: providers, provider: host.provider },
        `execution provider ${preferred} is not available here; running on ${host.provider}`,
      );
    }
    return new ModelRuntime(source.id, host, tokenizer, { maxBatch, maxQueue });
  }
}
