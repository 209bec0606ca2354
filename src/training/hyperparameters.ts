import { InvalidInputError } from '../errors.js';
import type { TrainableWeights, TrainingMethod } from '../db/tables/training.js';
import { quote } from './hyperparameter-kinds.js';
import { HYPERPARAMETERS, HYPERPARAMETER_ROWS, specPathOf } from './hyperparameter-table.js';
import type { DatasetShape, HyperparameterName, ModelShape, ResolveContext, ResolvedHyperparameters } from './hyperparameter-table.js';

export type {
  DatasetShape,
  HyperparameterName,
  HyperparametersRequest,
  ModelShape,
  ResolvedHyperparameters,
} from './hyperparameter-table.js';

const bad = (field: string, message: string) =>
  new InvalidInputError(
    field ? `hyperparameters.${field}` : 'hyperparameters',
    `hyperparameters${field ? `.${field}` : ''} ${message}`,
    'INVALID_HYPERPARAMETERS',
  );

/** Absent, null and "auto" all mean "let Tuneloop decide", for every hyperparameter. */
const isAuto = (value: unknown) => value === undefined || value === null || value === 'auto';

const isMethod = (method: unknown): method is TrainingMethod => method === 'LORA' || method === 'FULL' || method === 'DPO';

/**
 * What a job is, for the hyperparameter rows: its method and the weights it trains. LORA
 * and FULL train their own weights; DPO trains LoRA adapters (the default) or all weights.
 */
export interface JobKind {
  method: TrainingMethod;
  trainable: TrainableWeights;
}

/** A method alone means its own weights (DPO: LoRA adapters). */
export type MethodLike = TrainingMethod | JobKind;

export function jobKindOf(method: MethodLike): JobKind {
  if (typeof method === 'object') return method;
  return { method, trainable: method === 'FULL' ? 'FULL' : 'LORA' };
}

/** The kind a request names, or null when its method or trainable is not one (the caller refuses those). */
export function requestedKind(method: unknown, trainable: unknown): JobKind | null {
  const m = method ?? 'LORA';
  if (!isMethod(m)) return null;
  if (trainable === undefined || trainable === null) return jobKindOf(m);
  if (trainable !== 'LORA' && trainable !== 'FULL') return null;
  return m === 'DPO' ? { method: m, trainable } : jobKindOf(m);
}

/**
 * The tags a row's `methods` are matched against: the trained weights (LORA rows such as
 * loraRank apply to a LoRA DPO job too) plus DPO for preference tuning (beta).
 */
export function methodTags(kind: JobKind): TrainingMethod[] {
  return kind.method === 'DPO' ? ['DPO', kind.trainable] : [kind.trainable];
}

const applies = (row: { methods?: readonly TrainingMethod[] }, kind: JobKind) =>
  !row.methods || methodTags(kind).some((tag) => row.methods!.includes(tag));

const describeKind = (kind: JobKind) => (kind.method === 'DPO' ? `DPO (trainable ${kind.trainable})` : kind.method);

/**
 * Checks what a client sent, strictly and before anything is looked up: an object of known
 * hyperparameters, each absent, null, "auto" or a value of its kind in its static range
 * (no coercion: `"3"`, `true`, `""` and non-finite numbers are refused), and only those
 * the method uses. Returns the values given (the "auto" ones left out).
 * Throws INVALID_HYPERPARAMETERS naming the field.
 */
export function checkHyperparameters(method: unknown, raw: unknown): Partial<ResolvedHyperparameters> {
  const kind = isMethod(method) ? jobKindOf(method) : typeof method === 'object' && method !== null ? (method as JobKind) : null;
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw bad('', `must be an object, got ${quote(raw)}`);
  const given = raw as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(HYPERPARAMETERS, name)) {
      throw bad(name, `is not a hyperparameter; known: ${HYPERPARAMETER_ROWS.map(([n]) => n).join(', ')}`);
    }
  }
  const explicit: Record<string, unknown> = {};
  for (const [name, row] of HYPERPARAMETER_ROWS) {
    const value = given[name];
    if (isAuto(value)) continue;
    if (kind && !applies(row, kind)) {
      throw bad(name, `applies to ${row.methods!.join(' and ')} jobs only; leave it out (or "auto") for ${describeKind(kind)}`);
    }
    const accepted = row.kind.accept(value);
    if (accepted === undefined) throw bad(name, `must be ${row.kind.describe}, or "auto" (or null); got ${quote(value)}`);
    explicit[name] = accepted;
  }
  return explicit as Partial<ResolvedHyperparameters>;
}

/**
 * Validates the request against the method, model and dataset, and decides every "auto"
 * value by its row's rule (hyperparameter-table.ts; documented in docs/training.md).
 */
export function resolveHyperparameters(
  method: MethodLike,
  raw: unknown,
  model: ModelShape,
  dataset: DatasetShape,
  opts: { hasValidation: boolean },
): ResolvedHyperparameters {
  const kind = jobKindOf(method);
  const explicit = checkHyperparameters(kind, raw) as Record<string, unknown>;
  const values: Record<string, unknown> = {};
  const context: ResolveContext = {
    method: kind.method,
    trainable: kind.trainable,
    model,
    dataset,
    hasValidation: opts.hasValidation,
    value: (name) => values[name],
  };
  for (const [name, row] of HYPERPARAMETER_ROWS) {
    if (!applies(row, kind)) {
      values[name] = null;
    } else if (Object.hasOwn(explicit, name)) {
      const problem = row.check?.(explicit[name] as NonNullable<unknown>, context);
      if (problem) throw bad(name, problem);
      values[name] = explicit[name];
    } else {
      values[name] = row.auto(context);
    }
  }
  return values as ResolvedHyperparameters;
}

/**
 * The parts of the trainer's job spec the hyperparameters make (trainer/PROTOCOL.md):
 * `hyperparameters` (validated by the trainer against trainer/hyperparameters.schema.json)
 * and `checkpoints.every`. Rows the method does not use are left out.
 */
export function trainerSpecParts(hp: ResolvedHyperparameters, method: MethodLike) {
  const kind = jobKindOf(method);
  const parts = { hyperparameters: {} as Record<string, unknown>, checkpoints: {} as Record<string, unknown> };
  for (const [name, row] of HYPERPARAMETER_ROWS) {
    const path = specPathOf(name);
    if (!path || !applies(row, kind)) continue;
    parts[path[0]][path[1]] = hp[name as HyperparameterName];
  }
  return parts;
}

/** Tokens a run trains on: Σ min(length, maxSeqLength) × epochs (the trainer counts the same). */
export function billableTokens(dataset: DatasetShape, hp: Pick<ResolvedHyperparameters, 'maxSeqLength' | 'epochs'>): bigint {
  return BigInt(dataset.tokensAt(hp.maxSeqLength)) * BigInt(hp.epochs);
}

/** Cost in micro-USD of `tokens` at `pricePerMTokMicros` per 1M tokens, rounded up. */
export function tokenCost(tokens: bigint, pricePerMTokMicros: bigint): bigint {
  return (tokens * pricePerMTokMicros + 999_999n) / 1_000_000n;
}

/** The suffix rule of fine-tuned model names: ≤ 64 chars of [a-z0-9-] (OpenAI's limit). */
export function validateSuffix(suffix: string | null | undefined): string | null {
  if (suffix === undefined || suffix === null || suffix === '') return null;
  if (!/^[a-z0-9-]{1,64}$/.test(suffix)) {
    throw new InvalidInputError('suffix', 'suffix must be 1–64 characters of a-z, 0-9 and "-"', 'INVALID_HYPERPARAMETERS');
  }
  return suffix;
}
