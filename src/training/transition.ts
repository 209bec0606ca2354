import { sql } from 'kysely';
import type { Updateable } from 'kysely';
import type { Queryable } from '../db/connect.js';
import type { TrainingJob, TrainingJobsTable, TrainingStatus } from '../db/tables/training.js';
import type { WebhooksService } from '../webhooks/service.js';
import { formatUsd } from '../errors.js';
import { appendJobEvents, statusPayload } from './job-events.js';

const WEBHOOK_TYPES: Partial<Record<TrainingStatus, 'training.started' | 'training.completed' | 'training.failed' | 'training.cancelled'>> =
  {
    RUNNING: 'training.started',
    SUCCEEDED: 'training.completed',
    FAILED: 'training.failed',
    CANCELLED: 'training.cancelled',
  };

/** Allowed status changes; anything else is a bug in the caller. */
const ALLOWED: Record<TrainingStatus, TrainingStatus[]> = {
  VALIDATING: ['QUEUED', 'FAILED', 'CANCELLED'],
  QUEUED: ['RUNNING', 'CANCELLED', 'FAILED'],
  RUNNING: ['SUCCEEDED', 'FAILED', 'CANCELLED', 'QUEUED'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
};

export class StaleTransitionError extends Error {
  constructor(jobId: string, expected: TrainingStatus) {
    super(`job ${jobId} is no longer ${expected}`);
  }
}

/**
 * Changes a job's status — with its event row, its webhook outbox row and a NOTIFY — in
 * the caller's transaction. Guarded by the status the caller saw (optimistic): if another
 * process moved the job first, nothing is written and StaleTransitionError is thrown, so a
 * transition happens exactly once.
 */
export async function transitionJob(
  trx: Queryable,
  deps: { webhooks: WebhooksService },
  job: TrainingJob,
  to: TrainingStatus,
  fields: Updateable<TrainingJobsTable> = {},
  eventExtra: Record<string, unknown> = {},
): Promise<TrainingJob> {
  if (!ALLOWED[job.status].includes(to)) throw new Error(`illegal transition ${job.status} → ${to} for ${job.id}`);
  const updated = await trx
    .updateTable('training_jobs')
    .set({ ...fields, status: to, updated_at: sql`now()` })
    .where('id', '=', job.id)
    .where('status', '=', job.status)
    .returningAll()
    .executeTakeFirst();
  if (!updated) throw new StaleTransitionError(job.id, job.status);
  await recordTransition(trx, deps, updated, eventExtra);
  return updated;
}

/**
 * Writes what every status change carries — the status event (with NOTIFY) and the
 * webhook outbox row — for a job row already updated to its new status.
 */
export async function recordTransition(
  trx: Queryable,
  deps: { webhooks: WebhooksService },
  updated: TrainingJob,
  eventExtra: Record<string, unknown> = {},
): Promise<void> {
  const to = updated.status;
  const error = updated.error_code ? { code: updated.error_code, message: updated.error_message } : null;
  const payload = statusPayload(updated, to, { ...(error && to === 'FAILED' ? { error } : {}), ...eventExtra });
  await appendJobEvents(trx, updated.id, [{ type: 'status', step: updated.step, status: to, payload }]);

  const webhookType = WEBHOOK_TYPES[to];
  // training.started is announced once, on the first start, not on a resume after a lost worker.
  if (webhookType && !(to === 'RUNNING' && updated.attempts > 1)) {
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
}
