/**
 * Tuneloop's objects in OpenAI's shapes for the /v1 routes (files, fine-tuning jobs, their
 * events and checkpoints, models): field names, status words and unix-second times as the
 * official SDKs read them. Pure functions of stored rows; what they mean is decided by
 * the services. docs/openai-compatibility.md lists every field.
 */
import type { Dataset } from '../db/tables/datasets.js';
import type { TrainingEvent, TrainingJob, TrainingStatus } from '../db/tables/training.js';
import { checkpointModelId } from '../catalog/checkpoint-models.js';
import type { JobCheckpoint } from '../training/checkpoints.js';
import { trainingEventListing } from '../training/listings.js';
import { resultsFileId } from '../training/results-file.js';
import { InvalidInputError } from '../errors.js';
import type { Listing } from '../paging/listing.js';

export const unix = (date: Date | string | null | undefined) => (date ? Math.floor(new Date(date).getTime() / 1000) : null);

/** OpenAI's list page: `{object: "list", data, has_more, first_id, last_id}`; the SDKs continue with `after=<last id>`. */
export function openAiList<T extends { id: string }>(data: T[], hasMore: boolean) {
  return { object: 'list' as const, data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

/**
 * OpenAI's `after` is the id of the last object of the previous page; Tuneloop's id
 * listings hold the same id in an opaque cursor. Anything that is not an id of the list is
 * refused on `after` (by the listing, before any SQL).
 */
export function cursorAfterId<T extends { id: string }>(listing: Listing<T, unknown>, after: string | undefined): string | null {
  if (after === undefined || after === '') return null;
  const cursor = listing.cursorOf({ id: after } as T);
  listing.request({ after: cursor });
  return cursor;
}

/** OpenAI's `limit` for a listing: 1 … its largest page (larger asks get the largest page, and `has_more`). */
export function pageLimit(listing: Listing<never, unknown>, limit: number | undefined): number | null {
  if (limit === undefined) return null;
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidInputError('limit', 'limit must be a positive integer');
  return Math.min(limit, listing.maxSize);
}

// ─── Files ───────────────────────────────────────────────────────────────────────────

const FILE_STATUS = { VALIDATING: 'uploaded', READY: 'processed', INVALID: 'error' } as const;

/** The first line-numbered problems of an INVALID dataset, as OpenAI's `status_details`. */
export function statusDetails(d: Dataset): string | null {
  if (d.status !== 'INVALID') return null;
  const errors = d.errors as Array<{ line: number | null; message: string }>;
  const first = errors.slice(0, 5).map((e) => (e.line !== null ? `line ${e.line}: ${e.message}` : e.message));
  const more = d.error_count > first.length ? ` (and ${d.error_count - first.length} more)` : '';
  return `${d.error_count} error${d.error_count === 1 ? '' : 's'}: ${first.join('; ')}${more}`;
}

/** A dataset as an OpenAI file object (same id). */
export function fileJson(d: Dataset) {
  return {
    id: d.id,
    object: 'file' as const,
    bytes: Number(d.bytes),
    created_at: unix(d.created_at)!,
    filename: d.filename ?? `${d.id}.jsonl`,
    purpose: 'fine-tune' as const,
    status: FILE_STATUS[d.status],
    status_details: statusDetails(d),
    expires_at: null,
  };
}

/** A job's results file (generated from its stored steps when read). */
export function resultsFileJson(file: { id: string; bytes: number; createdAt: Date }) {
  return {
    id: file.id,
    object: 'file' as const,
    bytes: file.bytes,
    created_at: unix(file.createdAt)!,
    filename: 'step_metrics.csv',
    purpose: 'fine-tune-results' as const,
    status: 'processed' as const,
    status_details: null,
    expires_at: null,
  };
}

// ─── Fine-tuning jobs ────────────────────────────────────────────────────────────────

const JOB_STATUS: Record<TrainingStatus, string> = {
  VALIDATING: 'validating_files',
  QUEUED: 'queued',
  RUNNING: 'running',
  PAUSED: 'paused',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
};

/** Tuneloop's hyperparameter names under OpenAI's (the rest are Tuneloop's own: docs/training.md). */
export const OPENAI_HYPERPARAMETERS = {
  n_epochs: 'epochs',
  batch_size: 'batchSize',
  learning_rate_multiplier: 'learningRateMultiplier',
  beta: 'beta',
} as const;

const OPENAI_NAME_OF: Record<string, string> = Object.fromEntries(Object.entries(OPENAI_HYPERPARAMETERS).map(([o, t]) => [t, o]));

/** The OpenAI name of a Tuneloop hyperparameter (its own name when OpenAI has none). */
export const openAiHyperparameterName = (name: string) => OPENAI_NAME_OF[name] ?? name;

const openAiMethod = (method: string): 'dpo' | 'supervised' => (method === 'DPO' ? 'dpo' : 'supervised');

function jobHyperparameters(j: TrainingJob) {
  const hp = j.hyperparameters as Record<string, unknown>;
  const resolved = Object.keys(hp).length > 0;
  const requested = ((j.requested as { hyperparameters?: Record<string, unknown> }).hyperparameters ?? {}) as Record<string, unknown>;
  const value = (name: string) => (resolved ? (hp[name] ?? null) : 'auto');
  // A job started with an explicit learning rate has no multiplier; "auto" is × 1.
  const multiplier = resolved
    ? ((hp.learningRateMultiplier as number | null | undefined) ?? (typeof requested.learningRate === 'number' ? null : 1))
    : 'auto';
  return {
    n_epochs: value('epochs') as number | 'auto',
    batch_size: value('batchSize') as number | 'auto',
    learning_rate_multiplier: multiplier as number | 'auto' | null,
    ...(openAiMethod(j.method) === 'dpo' ? { beta: value('beta') as number | 'auto' } : {}),
  };
}

/** A training job as OpenAI's `fine_tuning.job`. */
export function fineTuningJobJson(j: TrainingJob, now = new Date()) {
  const hyperparameters = jobHyperparameters(j);
  const type = openAiMethod(j.method);
  const seed =
    (j.hyperparameters as { seed?: number }).seed ?? (j.requested as { hyperparameters?: { seed?: unknown } }).hyperparameters?.seed;
  const terminal = j.status === 'SUCCEEDED' || j.status === 'FAILED' || j.status === 'CANCELLED';
  return {
    id: j.id,
    object: 'fine_tuning.job' as const,
    created_at: unix(j.created_at)!,
    finished_at: unix(j.finished_at),
    model: j.base_model_id,
    fine_tuned_model: j.status === 'SUCCEEDED' ? j.fine_tuned_model_id : null,
    organization_id: j.account_id,
    status: JOB_STATUS[j.status],
    training_file: j.training_dataset_id,
    validation_file: j.validation_dataset_id,
    hyperparameters,
    method: { type, [type]: { hyperparameters } },
    trained_tokens: j.status === 'SUCCEEDED' ? Number(j.trained_tokens) : null,
    result_files: terminal && j.step > 0 ? [resultsFileId(j.id)] : [],
    error: j.status === 'FAILED' ? { code: j.error_code ?? 'failed', message: j.error_message ?? 'the job failed', param: null } : null,
    seed: typeof seed === 'number' ? seed : null,
    estimated_finish: j.status === 'RUNNING' && j.eta_seconds !== null ? unix(new Date(now.getTime() + j.eta_seconds * 1000)) : null,
    metadata: j.metadata ?? null,
    integrations: null,
    user_provided_suffix: j.suffix,
  };
}

/** An event id names the job's event by its sequence number: `ftevent_<job id body>_<seq>`. */
export function eventId(e: TrainingEvent): string {
  return `ftevent_${e.job_id.slice(e.job_id.indexOf('_') + 1)}_${e.seq}`;
}

/** The trainingEventListing cursor an OpenAI event id (`after`) stands for; refused unless it is one of this job's. */
export function eventCursorAfter(jobId: string, after: string | undefined): string | null {
  if (after === undefined || after === '') return null;
  const match = /^ftevent_([0-9a-z]{26})_(0|[1-9]\d{0,15})$/.exec(after);
  if (!match || `${jobId.slice(0, jobId.indexOf('_') + 1)}${match[1]}` !== jobId) {
    throw new InvalidInputError('after', `after must be the id of an event of job ${jobId}`);
  }
  return trainingEventListing.cursorOf({ job_id: jobId, seq: Number(match[2]) } as TrainingEvent);
}

const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/** A stored job event as OpenAI's `fine_tuning.job.event`; step and eval events are `metrics` events. */
export function fineTuningEventJson(e: TrainingEvent) {
  const p = e.payload as Record<string, unknown>;
  const base = { id: eventId(e), object: 'fine_tuning.job.event' as const, created_at: unix(e.created_at)! };
  switch (e.type) {
    case 'step': {
      const data = {
        step: e.step,
        total_steps: num(p.totalSteps),
        train_loss: num(p.loss),
        train_mean_token_accuracy: num(p.tokenAccuracy),
        valid_loss: num(p.validLoss),
        valid_mean_token_accuracy: num(p.validTokenAccuracy),
        full_valid_loss: null,
        full_valid_mean_token_accuracy: null,
      };
      return {
        ...base,
        level: 'info' as const,
        type: 'metrics' as const,
        message: `Step ${e.step}/${data.total_steps ?? '?'}: training loss=${data.train_loss}`,
        data,
      };
    }
    case 'eval': {
      const data = {
        step: e.step,
        full_valid_loss: num(p.evalLoss),
        full_valid_mean_token_accuracy: num(p.evalTokenAccuracy),
      };
      return {
        ...base,
        level: 'info' as const,
        type: 'metrics' as const,
        message: `Step ${e.step}: full validation loss=${data.full_valid_loss}`,
        data,
      };
    }
    case 'checkpoint':
      return {
        ...base,
        level: 'info' as const,
        type: 'message' as const,
        message: `Checkpoint created at step ${e.step}`,
        data: { step: e.step },
      };
    default: {
      const error = p.error as { code?: string; message?: string } | undefined;
      const message = e.status === 'FAILED' && error?.message ? `Job failed: ${error.message}` : `Job ${JOB_STATUS[e.status]}`;
      return {
        ...base,
        level: e.status === 'FAILED' ? ('error' as const) : ('info' as const),
        type: 'message' as const,
        message,
        data: {},
      };
    }
  }
}

/** A checkpoint as OpenAI's `fine_tuning.job.checkpoint` (its id is the checkpoint model's id). */
export function fineTuningCheckpointJson(job: TrainingJob, c: JobCheckpoint) {
  const model = checkpointModelId({ id: job.id, baseModelId: job.base_model_id, suffix: job.suffix }, c.step);
  return {
    id: model,
    object: 'fine_tuning.job.checkpoint' as const,
    created_at: unix(c.createdAt)!,
    fine_tuned_model_checkpoint: model,
    fine_tuning_job_id: job.id,
    step_number: c.step,
    metrics: {
      step: c.step,
      train_loss: c.metrics.trainLoss,
      train_mean_token_accuracy: c.metrics.trainTokenAccuracy,
      valid_loss: c.metrics.validLoss,
      valid_mean_token_accuracy: c.metrics.validTokenAccuracy,
      full_valid_loss: c.metrics.evalLoss,
      full_valid_mean_token_accuracy: c.metrics.evalTokenAccuracy,
    },
  };
}

// ─── Models ──────────────────────────────────────────────────────────────────────────

/** A catalog model or a checkpoint as OpenAI's `model`: base models are owned by `tuneloop`, yours by your account. */
export function modelJson(m: { id: string; createdAt: Date; ownerAccountId: string | null }) {
  return { id: m.id, object: 'model' as const, created: unix(m.createdAt)!, owned_by: m.ownerAccountId ?? 'tuneloop' };
}
