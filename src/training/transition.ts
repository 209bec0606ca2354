import { sql } from 'kysely';
import type { Updateable } from 'kysely';
import type { Tx } from '../db/connect.js';
import type { TrainingJob, TrainingJobsTable, TrainingStatus } from '../db/tables/training.js';
import type { WebhooksService } from '../webhooks/service.js';
import type { WebhookEventType } from '../webhooks/event-types.js';
import { formatUsd } from '../errors.js';
import { appendJobEvents, statusPayload } from './job-events.js';

/** Allowed status changes; anything else is a bug in the caller. */
const ALLOWED: Record<TrainingStatus, TrainingStatus[]> = {
  VALIDATING: ['QUEUED', 'FAILED', 'CANCELLED'],
  QUEUED: ['RUNNING', 'PAUSED', 'CANCELLED', 'FAILED'],
  RUNNING: ['SUCCEEDED', 'FAILED', 'CANCELLED', 'QUEUED', 'PAUSED'],
  PAUSED: ['QUEUED', 'CANCELLED'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
};

export class StaleTransitionError extends Error {
  constructor(jobId: string, expected: TrainingStatus) {
    super(`job ${jobId} is no longer ${expected}`);
  }
}

/** What a status change announces beyond the new row (see recordTransition). */
export interface TransitionNote {
  /** The status the job left. */
  from: TrainingStatus;
  /** Extra members of the status event's payload (e.g. `reason`). */
  extra?: Record<string, unknown>;
  /** RUNNING only: the job's first start ever (not a resume after a pause or a lost worker). */
  firstStart?: boolean;
}

/**
 * Changes a job's status — with its event row, its webhook outbox row and a NOTIFY — in
 * the caller's transaction. Guarded by the status the caller saw (optimistic): if another
 * process moved the job first, nothing is written and StaleTransitionError is thrown, so a
 * transition happens exactly once. A pause request concerns one stint of RUNNING, so every
 * transition clears it.
 */
export async function transitionJob(
  trx: Tx,
  deps: { webhooks: WebhooksService },
  job: TrainingJob,
  to: TrainingStatus,
  fields: Updateable<TrainingJobsTable> = {},
  extra: Record<string, unknown> = {},
): Promise<TrainingJob> {
  if (!ALLOWED[job.status].includes(to)) throw new Error(`illegal transition ${job.status} → ${to} for ${job.id}`);
  const updated = await trx
    .updateTable('training_jobs')
    .set({ pause_requested_at: null, ...fields, status: to, updated_at: sql`now()` })
    .where('id', '=', job.id)
    .where('status', '=', job.status)
    .returningAll()
    .executeTakeFirst();
  if (!updated) throw new StaleTransitionError(job.id, job.status);
  await recordTransition(trx, deps, updated, { from: job.status, extra });
  return updated;
}

/**
 * The webhook a status change sends, if any. `training.started` goes out once, on the
 * first start — not when a job runs again after a pause or a lost worker. Pausing and
 * resuming send `training.paused` / `training.resumed`, which only endpoints that name
 * them receive (docs/webhooks.md).
 */
function webhookTypeFor(to: TrainingStatus, note: TransitionNote): WebhookEventType | null {
  switch (to) {
    case 'RUNNING':
      return note.firstStart ? 'training.started' : null;
    case 'SUCCEEDED':
      return 'training.completed';
    case 'FAILED':
      return 'training.failed';
    case 'CANCELLED':
      return 'training.cancelled';
    case 'PAUSED':
      return 'training.paused';
    case 'QUEUED':
      return note.from === 'PAUSED' ? 'training.resumed' : null;
    default:
      return null;
  }
}

/**
 * Writes what every status change carries — the status event (with NOTIFY) and the
 * webhook outbox row — for a job row already updated to its new status.
 */
export async function recordTransition(
  trx: Tx,
  deps: { webhooks: WebhooksService },
  updated: TrainingJob,
  note: TransitionNote,
): Promise<void> {
  const to = updated.status;
  const error = updated.error_code ? { code: updated.error_code, message: updated.error_message } : null;
  const payload = statusPayload(updated, to, { ...(error && to === 'FAILED' ? { error } : {}), ...note.extra });
  await appendJobEvents(trx, updated.id, [{ type: 'status', step: updated.step, status: to, payload }]);

  const webhookType = webhookTypeFor(to, note);
  if (!webhookType) return;
  await deps.webhooks.enqueue(trx, {
    type: webhookType,
    accountId: updated.account_id,
    jobWebhookUrl: updated.webhook_url,
    data: {
      jobId: updated.id,
      status: to,
      baseModel: updated.base_model_id,
      fineTunedModel: updated.fine_tuned_model_id,
      trainedTokens: Number(updated.trained_tokens),
      cost: formatUsd(updated.cost_micros),
      step: updated.step,
      totalSteps: updated.total_steps,
      ...(error ? { error } : {}),
    },
  });
}
