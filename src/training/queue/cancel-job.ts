import type { Tx } from '../../db/connect.js';
import type { TrainingJob } from '../../db/tables/training.js';
import type { WebhooksService } from '../../webhooks/service.js';
import { settleJobBilling } from '../settlement.js';
import { transitionJob } from '../transition.js';

/**
 * Ends a job as CANCELLED — a waiting one (VALIDATING, QUEUED, PAUSED) at once, a running
 * one once its trainer has stopped — and charges the tokens trained until then (none for
 * a job that never ran; a paused or re-queued job pays for the steps it did), releasing
 * the rest of the reservation. Runs in the caller's transaction with the status event.
 */
export async function cancelJob(trx: Tx, deps: { webhooks: WebhooksService }, job: TrainingJob): Promise<TrainingJob> {
  const cost = await settleJobBilling(trx, job, 'charge-trained');
  return transitionJob(trx, deps, job, 'CANCELLED', {
    finished_at: new Date(),
    cancel_requested_at: job.cancel_requested_at ?? new Date(),
    cost_micros: cost,
    worker_id: null,
    lease_expires_at: null,
  });
}
