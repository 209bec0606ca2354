import type { Tx } from '../../db/connect.js';
import type { TrainingJob } from '../../db/tables/training.js';
import type { WebhooksService } from '../../webhooks/service.js';
import { transitionJob } from '../transition.js';

/**
 * Parks a job as PAUSED: a QUEUED one at once; a RUNNING one once its trainer has
 * checkpointed and exited (or its worker was lost with the pause pending). The worker is
 * released; the reservation stays open and nothing is charged — the job is not over.
 * `refundAttempt` when the worker let go in good order, so pausing never uses up
 * `max_attempts`. Runs in the caller's transaction with the status event.
 */
export async function pauseJob(
  trx: Tx,
  deps: { webhooks: WebhooksService },
  job: TrainingJob,
  opts: { refundAttempt: boolean; reason?: string },
): Promise<TrainingJob> {
  return transitionJob(
    trx,
    deps,
    job,
    'PAUSED',
    {
      worker_id: null,
      lease_expires_at: null,
      tokens_per_second: null,
      eta_seconds: null,
      ...(opts.refundAttempt ? { attempts: Math.max(0, job.attempts - 1) } : {}),
    },
    opts.reason ? { reason: opts.reason } : {},
  );
}
