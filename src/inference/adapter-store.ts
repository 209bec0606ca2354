import fs from 'node:fs/promises';
import path from 'node:path';
import type { AdapterFactors, LoraLayout } from './runtime/lora-stack.js';

/** The tensor-name prefix of a PEFT adapter (`base_model.model.` + the module path). */
const PEFT_PREFIX = 'base_model.model.';

/** What a PEFT `adapter_config.json` says that serving needs. */
export interface AdapterConfig {
  rank: number;
  alpha: number;
  /** lora_alpha / r (or / √r with rsLoRA): what B is multiplied by. */
  scaling: number;
  /** The module names the adapter targets (`q_proj`, …), as trained. */
  targets: string[];
}

/** An adapter folder that cannot be served as an adapter; the message says why. */
export class AdapterError extends Error {}

/** Reads and checks `<dir>/adapter_config.json` (LoRA only: no DoRA, one rank and alpha for every module). */
export async function readAdapterConfig(dir: string): Promise<AdapterConfig> {
  const text = await fs.readFile(path.join(dir, 'adapter_config.json'), 'utf8').catch(() => null);
  if (text === null) throw new AdapterError('the adapter has no adapter_config.json');
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new AdapterError('adapter_config.json is not valid JSON');
  }
  const rank = c.r;
  const alpha = c.lora_alpha;
  if (c.peft_type !== undefined && c.peft_type !== 'LORA') throw new AdapterError(`a ${String(c.peft_type)} adapter is not LoRA`);
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank <= 0) throw new AdapterError('adapter_config.json has no valid r');
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new AdapterError('adapter_config.json has no valid lora_alpha');
  if (c.use_dora === true) throw new AdapterError('DoRA adapters are served merged only');
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = c[key];
    if (v && typeof v === 'object' && Object.keys(v).length > 0) throw new AdapterError(`adapters with a ${key} are served merged only`);
  }
  const targets = typeof c.target_modules === 'string' ? [c.target_modules] : c.target_modules;
  if (!Array.isArray(targets) || !targets.every((t) => typeof t === 'string')) {
    throw new AdapterError('adapter_config.json has no target_modules list');
  }
  const scaling = c.use_rslora === true ? alpha / Math.sqrt(rank) : alpha / rank;
  return { rank, alpha, scaling, targets: targets as string[] };
}

interface Entry {
  factors: AdapterFactors;
  bytes: number;
}

export interface AdapterStoreStats {
  /** Adapters held now, and the bytes of their factors. */
  adapters: number;
  bytes: number;
  /** Loads from disk (first use, or again after an eviction) and evictions since start. */
  loads: number;
  evictions: number;
}

/**
 * LoRA adapters in memory, once per process: the factors of a fine-tune's PEFT output,
 * laid out as the LoRA-input graph takes them (lora-stack.ts), shared by every request of
 * every deployment of it. Least recently used adapters are dropped once the held factors
 * exceed `budgetBytes` (the one just used always stays); a request already running keeps
 * its own reference, and a dropped adapter is read from disk again on its next use.
 */
export class AdapterStore {
  private readonly held = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<AdapterFactors>>();
  private bytes = 0;
  private loads = 0;
  private evictions = 0;

  constructor(private readonly budgetBytes: number) {}

  /** The adapter in `dir` for a runtime with `layout`; loads it on first use. Throws AdapterError. */
  get(dir: string, layout: LoraLayout): Promise<AdapterFactors> {
    const key = `${path.resolve(dir)}\n${layout.targets.join(',')}`;
    const entry = this.held.get(key);
    if (entry) {
      this.held.delete(key); // most recently used goes last
      this.held.set(key, entry);
      return Promise.resolve(entry.factors);
    }
    let pending = this.loading.get(key);
    if (!pending) {
      pending = loadAdapter(dir, layout, key)
        .then((factors) => {
          this.loads++;
          this.keep(key, factors);
          return factors;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  get stats(): AdapterStoreStats {
    return { adapters: this.held.size, bytes: this.bytes, loads: this.loads, evictions: this.evictions };
  }

  private keep(key: string, factors: AdapterFactors): void {
    const bytes = factorBytes(factors);
    this.held.set(key, { factors, bytes });
    this.bytes += bytes;
    for (const [k, e] of this.held) {
      if (this.bytes <= this.budgetBytes || k === key) break;
      this.held.delete(k);
      this.bytes -= e.bytes;
      this.evictions++;
    }
  }
}

function factorBytes(f: AdapterFactors): number {
  return [...f.a, ...f.b].reduce((n, t) => n + (t?.byteLength ?? 0), 0);
}

interface Header {
  [name: string]: { dtype: string; shape: number[]; data_offsets: [number, number] };
}

/** Reads a PEFT adapter into the runtime's layout: A = lora_Aᵀ, B = scaling · lora_Bᵀ, on one SharedArrayBuffer. */
async function loadAdapter(dir: string, layout: LoraLayout, key: string): Promise<AdapterFactors> {
  const config = await readAdapterConfig(dir);
  const file = path.join(dir, 'adapter_model.safetensors');
  const data = await fs.readFile(file).catch(() => {
    throw new AdapterError('the adapter has no adapter_model.safetensors');
  });
  const header = parseHeader(data);
  const body = 8 + Number(data.readBigUInt64LE(0));
  const known = new Set(layout.modules.map((m) => m.module));
  for (const name of Object.keys(header)) {
    if (name === '__metadata__') continue;
    const module = name.replace(PEFT_PREFIX, '').replace(/\.lora_[AB](\.default)?\.weight$/, '');
    if (!known.has(module))
      throw new AdapterError(`the adapter has factors for ${module}, which this base model's adapter runtime does not take`);
  }
  const r = config.rank;
  const present = layout.modules.map((m) => {
    const a = header[`${PEFT_PREFIX}${m.module}.lora_A.weight`];
    const b = header[`${PEFT_PREFIX}${m.module}.lora_B.weight`];
    if (!a && !b) return null;
    if (!a || !b) throw new AdapterError(`the adapter has only one factor for ${m.module}`);
    if (a.shape.join() !== `${r},${m.in}` || b.shape.join() !== `${m.out},${r}`) {
      throw new AdapterError(
        `the adapter's factors for ${m.module} are [${a.shape.join(', ')}] and [${b.shape.join(', ')}]; this base model needs [${r}, ${m.in}] and [${m.out}, ${r}]`,
      );
    }
    return { a, b };
  });
  const floats = layout.modules.reduce((n, m, i) => n + (present[i] ? r * (m.in + m.out) : 0), 0);
  const memory = new SharedArrayBuffer(floats * 4);
  let offset = 0;
  const take = (n: number) => {
    const view = new Float32Array(memory, offset * 4, n);
    offset += n;
    return view;
  };
  const factors: AdapterFactors = { key, rank: r, a: [], b: [] };
  layout.modules.forEach((m, i) => {
    const p = present[i];
    if (!p) {
      factors.a.push(null);
      factors.b.push(null);
      return;
    }
    const la = floatsOf(data, body, p.a, file); // [r, in]
    const lb = floatsOf(data, body, p.b, file); // [out, r]
    const a = take(m.in * r); // [in, r]
    const b = take(r * m.out); // [r, out]
    for (let j = 0; j < r; j++) for (let x = 0; x < m.in; x++) a[x * r + j] = la[j * m.in + x]!;
    for (let o = 0; o < m.out; o++) for (let j = 0; j < r; j++) b[j * m.out + o] = lb[o * r + j]! * config.scaling;
    factors.a.push(a);
    factors.b.push(b);
  });
  if (factors.a.every((a) => a === null)) throw new AdapterError('the adapter has no factors for this base model');
  return factors;
}

function parseHeader(data: Buffer): Header {
  if (data.length < 8) throw new AdapterError('adapter_model.safetensors is not a safetensors file');
  const len = Number(data.readBigUInt64LE(0));
  if (len <= 0 || 8 + len > data.length) throw new AdapterError('adapter_model.safetensors is not a safetensors file (bad header length)');
  try {
    return JSON.parse(data.subarray(8, 8 + len).toString('utf8')) as Header;
  } catch {
    throw new AdapterError('adapter_model.safetensors is not a safetensors file (header is not JSON)');
  }
}

/** A tensor's values as float32 (F32, F16 and BF16 adapters). */
function floatsOf(data: Buffer, body: number, t: Header[string], file: string): Float32Array {
  const [start, end] = t.data_offsets;
  const n = t.shape.reduce((a, b) => a * b, 1);
  const width = t.dtype === 'F32' ? 4 : t.dtype === 'F16' || t.dtype === 'BF16' ? 2 : 0;
  if (!width) throw new AdapterError(`${path.basename(file)} holds ${t.dtype} factors; F32, F16 and BF16 are served`);
  if (end - start !== n * width || body + end > data.length) throw new AdapterError(`${path.basename(file)} is truncated`);
  const out = new Float32Array(n);
  const view = new DataView(data.buffer, data.byteOffset + body + start, end - start);
  if (width === 4) for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  else if (t.dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true) << 16;
  } else for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
