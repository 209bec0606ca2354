import type { Model } from '../db/schema.js';

/**
 * Catalog listings (`GET /api/models`, `fineTunableModels`, the first page of `models`)
 * served from memory.
 *
 * Why: a listing is one indexed query, yet it costs several times a whole bare node:http
 * request (docs/PERFORMANCE.md, "HTTP overhead"). Listings are read on every
 * client start and change only when a model is imported, repriced or fine-tuned.
 *
 * Staleness: the catalog service drops every entry after its own writes. Writes by another
 * process (a worker registering a fine-tuned model, `tuneloop models import` against the
 * same server) show after at most `ttlMs`. Lookups by id (`getModel`/`findModel`, which
 * pricing and job starts use) never come from here: they always read the database.
 *
 * Concurrent misses of one key share one query. A failed load is not cached.
 */
interface Entry {
  loadedAt: number;
  rows: Promise<Model[]>;
  /** The rows once loaded: `peek` answers without a promise. */
  loaded?: Model[];
}

export class ListingCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 5_000,
  ) {}

  /** The listing cached under `key`, loaded with `load` when absent or older than the TTL. */
  get(key: string, load: () => Promise<Model[]>): Promise<Model[]> {
    if (this.ttlMs <= 0) return load();
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && this.fresh(hit, now)) return hit.rows;
    const entry: Entry = { loadedAt: now, rows: load() };
    // Re-inserting moves the key to the end: Map order is then least recently loaded first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    entry.rows.then(
      (rows) => {
        entry.loaded = rows;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return entry.rows;
  }

  /**
   * The listing cached under `key` if it is loaded and fresh, without a promise (the hot
   * routes answer synchronously from it); undefined otherwise — then `get`.
   */
  peek(key: string): Model[] | undefined {
    if (this.ttlMs <= 0) return undefined;
    const hit = this.entries.get(key);
    return hit?.loaded && this.fresh(hit, Date.now()) ? hit.loaded : undefined;
  }

  private fresh(entry: Entry, now: number): boolean {
    return now - entry.loadedAt < this.ttlMs;
  }

  /**
   * Forgets every listing. Called after a write has committed, so a load that started
   * before the write cannot be served after this returns (its entry is gone with the rest).
   */
  invalidate(): void {
    this.entries.clear();
  }
}
