import type { Logger } from '../log.js';
import type { ServedAs } from '../db/tables/inference.js';
import type { ModelRuntime } from './runtime-registry.js';

/**
 * How one on-demand model is loaded, served and let go of (the deployment manager's
 * `loadServing` path, deployments.ts): a merged model's own runtime, or an adapter over
 * its base's shared LoRA-input runtime.
 */
export interface OnDemandLoader {
  /**
   * Makes what loading needs (exports, quantized copies), once per load: the bytes the
   * model will take in memory — room is made for them before `load` — and `load`, which
   * loads it for a holder and answers the bytes it takes then.
   */
  prepare(): Promise<{ bytes: number; load(holder: string): Promise<number> }>;
  /** The runtime a loaded holder's requests go to (a dead worker restarted); undefined once let go of. */
  runtime(holder: string): Promise<ModelRuntime> | undefined;
  /** Lets go of what `load` took; a runtime shared with other holders stays loaded for them. */
  release(holder: string): Promise<void>;
}

/** A request's hold on an on-demand model: it is not unloaded until every lease is released. */
export interface OnDemandLease {
  runtime: ModelRuntime;
  release(): void;
}

/** One model loaded (or loading) on demand in this process. */
export interface OnDemandModelState {
  /** The entry's key: `<model id>` (an adapter, or float32 weights) or `<model id>@INT4`. */
  key: string;
  /** The model id the requests named. */
  model: string;
  /** ADAPTER: the fine-tune's factors over its base's shared runtime; MERGED: its own runtime. */
  servedAs: ServedAs;
  /**
   * Bytes it counts against the budget (0 until prepared): a merged model's weights; an
   * adapter's factors (the shared base runtime is not counted: see docs/inference.md).
   */
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
  servedAs: ServedAs;
  loader: OnDemandLoader;
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
 * Runtimes live in the shared RuntimeRegistry, which counts holders: an on-demand model
 * that is also deployed shares the deployment's runtime, an adapter shares its base's
 * LoRA-input runtime with every other adapter of it (deployed or on demand), and
 * unloading an entry here leaves every other holder serving.
 */
export class OnDemandModels {
  private readonly entries = new Map<string, Entry>();
  private readonly loadCounts = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: OnDemandOptions) {
    const every = Math.min(30_000, Math.max(50, Math.floor(options.idleMs / 4)));
    this.sweeper = setInterval(() => this.sweepIdle(), every);
    this.sweeper.unref();
  }

  /**
   * A lease on the model's runtime, loading it with `loader` when it is not loaded here:
   * the load (export, quantize, start or join a runtime) runs once however many requests
   * wait for it. Rejects with the load error (the next request tries again).
   */
  async acquire(key: string, model: string, servedAs: ServedAs, loader: OnDemandLoader): Promise<OnDemandLease> {
    if (this.closed) throw new Error('the inference service is stopping');
    let entry = this.entries.get(key);
    if (!entry) {
      const created: Entry = {
        key,
        model,
        servedAs,
        loader,
        holder: `ondemand:${key}`,
        loading: Promise.resolve(),
        loaded: false,
        bytes: 0,
        users: 0,
        lastUsed: Date.now(),
      };
      created.loading = this.load(created);
      this.entries.set(key, created);
      entry = created;
    }
    entry.users++;
    entry.lastUsed = Date.now();
    try {
      await entry.loading;
      // Through the registry, which restarts a runtime whose worker died.
      const pending = entry.loader.runtime(entry.holder);
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
        servedAs: e.servedAs,
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
    await Promise.allSettled(all.map((e) => e.loading.then(() => e.loader.release(e.holder))));
  }

  private async load(entry: Entry): Promise<void> {
    this.loadCounts.set(entry.model, this.loadCount(entry.model) + 1);
    const started = Date.now();
    try {
      const prepared = await entry.loader.prepare();
      entry.bytes = prepared.bytes;
      await this.makeRoom(entry);
      entry.bytes = await prepared.load(entry.holder);
      entry.loaded = true;
      this.options.log.info(
        { model: entry.model, key: entry.key, servedAs: entry.servedAs, bytes: entry.bytes, ms: Date.now() - started },
        'model loaded on demand',
      );
    } catch (err) {
      if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
      await entry.loader.release(entry.holder).catch(() => {});
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
    await entry.loader
      .release(entry.holder)
      .catch((err: unknown) => this.options.log.warn({ err, model: entry.model }, 'unloading an on-demand model failed'));
  }
}
