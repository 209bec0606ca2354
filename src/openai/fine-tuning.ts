/**
 * OpenAI's fine-tuning objects over Tuneloop's training jobs (docs/openai-compatibility.md
 * § Fine-tuning): the create request as a StartFineTuneRequest, and jobs, events and
 * checkpoints in OpenAI's shapes. Only names and shapes change here; every rule (limits,
 * "auto", tenancy, billing) is the training service's.
 */
import type { TrainingEvent, TrainingJob, TrainingStatus } from '../db/tables/training.js';
import { DomainError, InvalidInputError } from '../errors.js';
import type { HyperparametersRequest } from '../training/hyperparameters.js';
import type { StartFineTuneRequest } from '../training/start-job.js';
import type { JobCheckpoint } from '../training/checkpoints.js';
import { checkpointModelId } from '../catalog/checkpoint-models.js';
import { resultsFileId } from './files.js';
import { unixSeconds, unixSecondsOrNull } from './time.js';

type AutoOr<T> = 'auto' | T;

export interface OpenAiHyperparameters {
  n_epochs: AutoOr<number>;
  batch_size: AutoOr<number>;
  learning_rate_multiplier: AutoOr<number>;
  beta?: AutoOr<number>;
}

export interface OpenAiJob {
  id: string;
  object: 'fine_tuning.job';
  status: 'validating_files' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'paused';
  created_at: number;
  finished_at: number | null;
  model: string;
  fine_tuned_model: string | null;
  organization_id: string;
  training_file: string;
  validation_file: string | null;
  hyperparameters: Omit<OpenAiHyperparameters, 'beta'>;
  method: {
    type: 'supervised' | 'dpo';
    supervised?: { hyperparameters: OpenAiHyperparameters };
    dpo?: { hyperparameters: OpenAiHyperparameters };
  };
  trained_tokens: number | null;
  result_files: string[];
  error: { code: string; message: string; param: string | null } | null;
  seed: number;
  estimated_finish: number | null;
  metadata: Record<string, string> | null;
  integrations: [];
  user_provided_suffix: string | null;
}

// ─── The create request ──────────────────────────────────────────────────────────────

/** OpenAI's hyperparameter names and ours (hyperparameter-table.ts). */
const HYPERPARAMETER_NAMES = {
  n_epochs: 'epochs',
  batch_size: 'batchSize',
  learning_rate_multiplier: 'learningRateMultiplier',
  beta: 'beta',
} as const;

type OpenAiHyperparameterName = keyof typeof HYPERPARAMETER_NAMES;

/** Request fields that are read; any other field is refused naming it (OpenAI's fields we do not support included). */
const CREATE_FIELDS = new Set([
  'model',
  'training_file',
  'validation_file',
  'suffix',
  'seed',
  'metadata',
  'method',
  'hyperparameters',
  'integrations',
]);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * OpenAI's create body as a StartFineTuneRequest. `method.type` supervised is a LoRA job
 * (our default) and dpo a DPO job (LoRA); reinforcement, integrations and unknown fields
 * are refused (INVALID_INPUT naming the OpenAI `param`). The deprecated top-level
 * `hyperparameters` is read like `method.supervised.hyperparameters` when `method` is absent.
 */
export function startRequestOf(body: Record<string, unknown>): { request: StartFineTuneRequest; prefix: string } {
  for (const key of Object.keys(body)) {
    if (!CREATE_FIELDS.has(key)) throw new InvalidInputError(key, `${key} is not supported by Tuneloop's fine-tuning API`);
  }
  const integrations = body.integrations;
  if (integrations !== undefined && integrations !== null && !(Array.isArray(integrations) && integrations.length === 0)) {
    throw new InvalidInputError('integrations', 'integrations (Weights & Biases) are not supported; watch jobs through their events');
  }
  const str = (field: string, required = false): string | null => {
    const value = body[field];
    if (value === undefined || value === null) {
      if (required) throw new InvalidInputError(field, `${field} is required`);
      return null;
    }
    if (typeof value !== 'string' || value === '') throw new InvalidInputError(field, `${field} must be a non-empty string`);
    return value;
  };
  const model = str('model', true)!;
  const trainingFile = str('training_file', true)!;
  const validationFile = str('validation_file');
  const suffix = str('suffix');

  let type: 'supervised' | 'dpo' = 'supervised';
  let hyperparameters: unknown = body.hyperparameters;
  let prefix = 'hyperparameters';
  if (body.method !== undefined && body.method !== null) {
    const method = body.method;
    if (!isObject(method)) throw new InvalidInputError('method', 'method must be an object {type, supervised | dpo}');
    if (method.type === 'reinforcement') {
      throw new InvalidInputError('method.type', 'reinforcement fine-tuning is not supported; use supervised or dpo');
    }
    if (method.type !== 'supervised' && method.type !== 'dpo') {
      throw new InvalidInputError('method.type', 'method.type must be "supervised" or "dpo"');
    }
    type = method.type;
    for (const key of Object.keys(method)) {
      if (key !== 'type' && key !== type)
        throw new InvalidInputError(`method.${key}`, `method.${key} does not go with method.type ${type}`);
    }
    const settings = method[type];
    if (settings !== undefined && settings !== null) {
      if (!isObject(settings)) throw new InvalidInputError(`method.${type}`, `method.${type} must be an object {hyperparameters}`);
      for (const key of Object.keys(settings)) {
        if (key !== 'hyperparameters') throw new InvalidInputError(`method.${type}.${key}`, `method.${type}.${key} is not supported`);
      }
      if (settings.hyperparameters !== undefined && settings.hyperparameters !== null) {
        if (hyperparameters !== undefined && hyperparameters !== null) {
          throw new InvalidInputError(
            'hyperparameters',
            `give hyperparameters in method.${type}.hyperparameters only (the top-level field is deprecated)`,
          );
        }
        hyperparameters = settings.hyperparameters;
        prefix = `method.${type}.hyperparameters`;
      }
    }
  }
  const hp: HyperparametersRequest = {};
  if (hyperparameters !== undefined && hyperparameters !== null) {
    if (!isObject(hyperparameters)) throw new InvalidInputError(prefix, `${prefix} must be an object`);
    for (const [name, value] of Object.entries(hyperparameters)) {
      const ours = Object.hasOwn(HYPERPARAMETER_NAMES, name) ? HYPERPARAMETER_NAMES[name as OpenAiHyperparameterName] : undefined;
      if (!ours || (ours === 'beta' && type !== 'dpo')) {
        throw new InvalidInputError(
          `${prefix}.${name}`,
          `${prefix}.${name} is not supported; use n_epochs, batch_size, learning_rate_multiplier${type === 'dpo' ? ', beta' : ''}`,
        );
      }
      // Type and range are the training service's to check (a string other than "auto" included).
      (hp as Record<string, unknown>)[ours] = value;
    }
  }
  if (body.seed !== undefined && body.seed !== null) hp.seed = body.seed as number;
  const request: StartFineTuneRequest = {
    baseModel: model,
    trainingDataset: trainingFile,
    validationDataset: validationFile,
    method: type === 'dpo' ? 'DPO' : 'LORA',
    hyperparameters: hp,
    suffix,
    metadata: body.metadata === undefined || body.metadata === null ? null : (body.metadata as Record<string, string>),
  };
  return { request, prefix };
}

const REQUEST_FIELDS: Record<string, string> = {
  baseModel: 'model',
  trainingDataset: 'training_file',
  validationDataset: 'validation_file',
  'hyperparameters.seed': 'seed',
};

/**
 * A DomainError of the training service with OpenAI's `param` (and names in its message):
 * `trainingDataset` → `training_file`, `hyperparameters.epochs` → `<prefix>.n_epochs`, ….
 */
export function withOpenAiParam(error: unknown, prefix: string): unknown {
  if (!(error instanceof DomainError) || typeof error.details.field !== 'string') return error;
  const field = error.details.field;
  let param = REQUEST_FIELDS[field];
  if (!param && field.startsWith('hyperparameters.')) {
    const ours = field.slice('hyperparameters.'.length);
    const name = Object.entries(HYPERPARAMETER_NAMES).find(([, v]) => v === ours)?.[0];
    param = `${prefix}.${name ?? ours}`;
  }
  if (!param) return error;
  const message = error.message.split(field).join(param);
  return new DomainError(error.code, message, error.status, { ...error.details, field: param });
}

// ─── Jobs ────────────────────────────────────────────────────────────────────────────

const STATUS: Record<TrainingStatus, OpenAiJob['status']> = {
  VALIDATING: 'validating_files',
  QUEUED: 'queued',
  RUNNING: 'running',
  PAUSED: 'paused',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
};

const TERMINAL: readonly TrainingStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/**
 * The job as OpenAI shows it. Hyperparameters are the resolved values once the datasets
 * are validated ("auto" for those still to decide before); learning_rate_multiplier is 1
 * unless the job scaled its auto rate.
 */
export function jobObject(job: TrainingJob, now = new Date()): OpenAiJob {
  const resolved = job.hyperparameters as Record<string, unknown>;
  const requested = ((job.requested as { hyperparameters?: Record<string, unknown> | null }).hyperparameters ?? {}) as Record<
    string,
    unknown
  >;
  const decided = Object.keys(resolved).length > 0;
  const value = (name: string, fallback?: number): AutoOr<number> => {
    const v = decided ? resolved[name] : requested[name];
    if (typeof v === 'number') return v;
    return fallback !== undefined && decided ? fallback : 'auto';
  };
  const hp: OpenAiHyperparameters = {
    n_epochs: value('epochs'),
    batch_size: value('batchSize'),
    learning_rate_multiplier: value('learningRateMultiplier', 1),
  };
  const dpo = job.method === 'DPO';
  if (dpo) hp.beta = value('beta');
  const { beta: _beta, ...topLevel } = hp;
  const eta = job.status === 'RUNNING' && job.eta_seconds !== null ? Math.round(now.getTime() / 1000 + job.eta_seconds) : null;
  const seed = typeof resolved.seed === 'number' ? resolved.seed : typeof requested.seed === 'number' ? requested.seed : 42;
  return {
    id: job.id,
    object: 'fine_tuning.job',
    status: STATUS[job.status],
    created_at: unixSeconds(job.created_at),
    finished_at: unixSecondsOrNull(job.finished_at),
    model: job.parent_model_id ?? job.base_model_id,
    fine_tuned_model: job.fine_tuned_model_id,
    organization_id: job.account_id,
    training_file: job.training_dataset_id,
    validation_file: job.validation_dataset_id,
    hyperparameters: topLevel,
    method: dpo ? { type: 'dpo', dpo: { hyperparameters: hp } } : { type: 'supervised', supervised: { hyperparameters: hp } },
    trained_tokens: TERMINAL.includes(job.status) ? Number(job.trained_tokens) : null,
    result_files: job.step > 0 ? [resultsFileId(job.id)] : [],
    error:
      job.status === 'FAILED'
        ? { code: (job.error_code ?? 'failed').toLowerCase(), message: job.error_message ?? 'the job failed', param: null }
        : null,
    seed,
    estimated_finish: eta,
    metadata: Object.keys(job.metadata ?? {}).length > 0 ? job.metadata : null,
    integrations: [],
    user_provided_suffix: job.suffix,
  };
}

// ─── Events ──────────────────────────────────────────────────────────────────────────

export interface OpenAiEvent {
  id: string;
  object: 'fine_tuning.job.event';
  created_at: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  type: 'message' | 'metrics';
  data: Record<string, unknown> | null;
}

const jobBody = (jobId: string) => jobId.slice(jobId.indexOf('_') + 1);

/** An event's id: `ftevent-<job id's body>-<seq>` (unique across jobs; `after` reads the seq back). */
export function eventId(jobId: string, seq: number): string {
  return `ftevent-${jobBody(jobId)}-${seq}`;
}

/** The seq an event id of this job names; INVALID_INPUT on `after` otherwise. */
export function parseEventId(jobId: string, id: string): number {
  const match = /^ftevent-([0-9a-z]+)-([1-9]\d{0,15})$/.exec(id);
  if (!match || match[1] !== jobBody(jobId)) throw new InvalidInputError('after', `${JSON.stringify(id)} is not an event of this job`);
  return Number(match[2]);
}

const metric = (value: unknown) => (typeof value === 'number' ? value : null);
const STATUS_MESSAGES: Record<TrainingStatus, string> = {
  VALIDATING: 'Validating training file',
  QUEUED: 'Fine-tuning job queued',
  RUNNING: 'Fine-tuning job started',
  PAUSED: 'Fine-tuning job paused',
  SUCCEEDED: 'The job has successfully completed',
  FAILED: 'The job failed',
  CANCELLED: 'The job was cancelled',
};

/**
 * A stored event as OpenAI's: a `metrics` event per step (train_loss,
 * train_mean_token_accuracy, and valid_loss / valid_mean_token_accuracy where a validation
 * batch was measured) and per full validation (full_valid_loss); `message` events for
 * status changes and checkpoints.
 */
export function eventObject(job: TrainingJob, event: TrainingEvent): OpenAiEvent {
  const p = event.payload as Record<string, unknown>;
  const base = { id: eventId(job.id, event.seq), object: 'fine_tuning.job.event' as const, created_at: unixSeconds(event.created_at) };
  switch (event.type) {
    case 'step': {
      const data = {
        step: event.step,
        total_steps: metric(p.totalSteps),
        train_loss: metric(p.loss),
        train_mean_token_accuracy: metric(p.tokenAccuracy),
        valid_loss: metric(p.validLoss),
        valid_mean_token_accuracy: metric(p.validTokenAccuracy),
        full_valid_loss: null,
      };
      return {
        ...base,
        level: 'info',
        type: 'metrics',
        message: `Step ${event.step}/${data.total_steps ?? '?'}: training loss=${data.train_loss?.toFixed(4) ?? '?'}`,
        data,
      };
    }
    case 'eval': {
      const data = {
        step: event.step,
        full_valid_loss: metric(p.evalLoss),
        full_valid_mean_token_accuracy: metric(p.tokenAccuracy),
      };
      return {
        ...base,
        level: 'info',
        type: 'metrics',
        message: `Step ${event.step}: full validation loss=${data.full_valid_loss?.toFixed(4) ?? '?'}`,
        data,
      };
    }
    case 'checkpoint':
      return { ...base, level: 'info', type: 'message', message: `Checkpoint created at step ${event.step}`, data: { step: event.step } };
    default: {
      const failed = event.status === 'FAILED';
      const detail = failed && typeof p.message === 'string' ? `: ${p.message}` : '';
      return {
        ...base,
        level: failed ? 'error' : 'info',
        type: 'message',
        message: `${STATUS_MESSAGES[event.status]}${detail}`,
        data: { status: STATUS[event.status], step: event.step },
      };
    }
  }
}

// ─── Checkpoints ─────────────────────────────────────────────────────────────────────

export interface OpenAiCheckpoint {
  id: string;
  object: 'fine_tuning.job.checkpoint';
  created_at: number;
  fine_tuned_model_checkpoint: string;
  fine_tuning_job_id: string;
  step_number: number;
  metrics: Record<string, number>;
}

/** A checkpoint's id: `ftckpt-<job id's body>-<step>`. */
export function checkpointObjectId(jobId: string, step: number): string {
  return `ftckpt-${jobBody(jobId)}-${step}`;
}

export function checkpointObject(job: TrainingJob, checkpoint: JobCheckpoint): OpenAiCheckpoint {
  const m = checkpoint.metrics;
  const metrics: Record<string, number | null> = {
    step: checkpoint.step,
    train_loss: m.trainLoss,
    train_mean_token_accuracy: m.trainTokenAccuracy,
    valid_loss: m.validLoss,
    valid_mean_token_accuracy: m.validTokenAccuracy,
    full_valid_loss: m.evalLoss,
    full_valid_mean_token_accuracy: m.evalTokenAccuracy,
  };
  return {
    id: checkpointObjectId(job.id, checkpoint.step),
    object: 'fine_tuning.job.checkpoint',
    created_at: unixSeconds(checkpoint.createdAt),
    fine_tuned_model_checkpoint: checkpointModelId({ id: job.id, baseModelId: job.base_model_id, suffix: job.suffix }, checkpoint.step),
    fine_tuning_job_id: job.id,
    step_number: checkpoint.step,
    // Metrics not measured at that step are left out, as OpenAI does.
    metrics: Object.fromEntries(Object.entries(metrics).filter(([, v]) => v !== null)) as Record<string, number>,
  };
}
