import type { Logger } from '../log.js';
import type { ModelRuntime, ModelSource, RuntimeRegistry } from './runtime-registry.js';

/** What loading an on-demand model needs: where its export is, and what its weights take. */
export interface OnDemandSource {
  source: ModelSource;
  /** Weight bytes in memory once loaded (counted against the budget). */
  bytes: number;
}

/** A request's hold on an on-demand model: it is not unloaded until every lease is released. */
export interface OnDemandLease {
  runtime: ModelRuntime;
  release(): void;
}

/** One model loaded (or loading) on demand in this process. */
export interface OnDemandModelState {
  /** The runtime key (`<model id>` or `<model id>@INT4`). */
  key: string;
  /** The model id the requests named. */
  model: string;
  /** Weight bytes it takes (0 until the export is ready). */
  bytes: number;
  /** Requests holding it now. */
  users: number;
  loaded: boolean;
  lastUsedAt: Date;
}

export interface OnDemandOptions {
  /** Unloaded after this long without a request. */
  idleMs: number;
  /** Weight bytes all on-demand models may take together. */
  budgetBytes: number;
  log: Logger;
}

interface Entry {
  key: string;
  model: string;
  /** The runtime registry's holder id: on-demand holders never collide with deployment ids. */
  holder: string;
  loading: Promise<void>;
  loaded: boolean;
  bytes: number;
  users: number;
  lastUsed: number;
}

/**
 * Models served without a deployment (fine-tuned models and checkpoints named in a
 * request; docs/inference.md § On-demand models). The first request loads the model and
 * waits; concurrent first requests share that one load; a model no request has used for
 * `idleMs` is unloaded; loading one more unloads the least recently used idle ones until
 * the weights fit `budgetBytes`. A model in use is never unloaded, so the budget is
 * exceeded only while every loaded model is serving (or by one model larger than it).
 *
 * Runtimes live in the shared RuntimeRegistry: an on-demand model that is also deployed
 * shares the deployment's runtime, and unloading it here leaves the deployment serving.
 */
export class OnDemandModels {
  private readonly entries = new Map<string, Entry>();
  private readonly loadCounts = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly registry: RuntimeRegistry,
    private readonly options: OnDemandOptions,
  ) {
    const every = Math.min(30_000, Math.max(50, Math.floor(options.idleMs / 4)));
    this.sweeper = setInterval(() => this.sweepIdle(), every);
    this.sweeper.unref();
  }

  /**
   * A lease on the model's runtime, loading it when it is not loaded here: `prepare`
   * (export, quantize) runs once however many requests wait for it. Rejects with the load
   * error (the next request tries again).
   */
  async acquire(key: string, model: string, prepare: () => Promise<OnDemandSource>): Promise<OnDemandLease> {
    if (this.closed) throw new Error('the inference service is stopping');
    let entry = this.entries.get(key);
    if (!entry) {
      const created: Entry = {
        key,
        model,
        holder: `ondemand:${key}`,
        loading: Promise.resolve(),
        loaded: false,
        bytes: 0,
        users: 0,
        lastUsed: Date.now(),
      };
      created.loading = this.load(created, prepare);
      this.entries.set(key, created);
      entry = created;
    }
    entry.users++;
    entry.lastUsed = Date.now();
    try {
      await entry.loading;
      // Through the registry, which restarts a runtime whose worker died.
      const pending = this.registry.runtimeFor(entry.holder);
      if (!pending) throw new Error(`model "${model}" was unloaded while loading`);
      const runtime = await pending;
      let released = false;
      const held = entry;
      return {
        runtime,
        release: () => {
          if (released) return;
          released = true;
          held.users--;
          held.lastUsed = Date.now();
        },
      };
    } catch (err) {
      entry.users--;
      throw err;
    }
  }

  /** The models loaded or loading on demand here, least recently used first. */
  state(): OnDemandModelState[] {
    return [...this.entries.values()]
      .sort((a, b) => a.lastUsed - b.lastUsed)
      .map((e) => ({
        key: e.key,
        model: e.model,
        bytes: e.bytes,
        users: e.users,
        loaded: e.loaded,
        lastUsedAt: new Date(e.lastUsed),
      }));
  }

  /** How many times a model (by the id requests name) was loaded on demand in this process (every reload counts). */
  loadCount(model: string): number {
    return this.loadCounts.get(model) ?? 0;
  }

  /** Unloads every on-demand model (deployments sharing a runtime keep it). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map((e) => e.loading.then(() => this.registry.release(e.holder))));
  }

  private async load(entry: Entry, prepare: () => Promise<OnDemandSource>): Promise<void> {
    this.loadCounts.set(entry.model, this.loadCount(entry.model) + 1);
    const started = Date.now();
    try {
      const { source, bytes } = await prepare();
      entry.bytes = bytes;
      await this.makeRoom(entry);
      await this.registry.acquire(entry.holder, source);
      entry.loaded = true;
      this.options.log.info({ model: entry.model, key: entry.key, bytes, ms: Date.now() - started }, 'model loaded on demand');
    } catch (err) {
      if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
      await this.registry.release(entry.holder).catch(() => {});
      throw err;
    }
  }

  /** Unloads least recently used idle models until `entry`'s weights fit the budget. */
  private async makeRoom(entry: Entry): Promise<void> {
    const others = [...this.entries.values()].filter((e) => e !== entry);
    let used = others.reduce((sum, e) => sum + e.bytes, 0);
    if (used + entry.bytes <= this.options.budgetBytes) return;
    const idle = others.filter((e) => e.loaded && e.users === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    const evicted: Entry[] = [];
    for (const e of idle) {
      if (used + entry.bytes <= this.options.budgetBytes) break;
      used -= e.bytes;
      evicted.push(e);
    }
    if (used + entry.bytes > this.options.budgetBytes) {
      this.options.log.warn(
        { model: entry.model, bytes: entry.bytes, used, budget: this.options.budgetBytes },
        'on-demand models in use exceed the memory budget; loading anyway',
      );
    }
    await Promise.all(evicted.map((e) => this.unload(e, 'evicted (least recently used)')));
  }

  private sweepIdle(): void {
    const now = Date.now();
    for (const e of this.entries.values()) {
      if (e.loaded && e.users === 0 && now - e.lastUsed >= this.options.idleMs) void this.unload(e, 'idle');
    }
  }

  private async unload(entry: Entry, reason: string): Promise<void> {
    if (this.entries.get(entry.key) !== entry) return;
    this.entries.delete(entry.key);
    this.options.log.info({ model: entry.model, key: entry.key, reason }, 'on-demand model unloaded');
    await this.registry
      .release(entry.holder)
      .catch((err: unknown) => this.options.log.warn({ err, model: entry.model }, 'unloading an on-demand model failed'));
  }
}
