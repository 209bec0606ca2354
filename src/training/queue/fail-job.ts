import type { Tx } from '../../db/connect.js';
import type { TrainingJob } from '../../db/tables/training.js';
import type { WebhooksService } from '../../webhooks/service.js';
import { settleJobBilling } from '../settlement.js';
import type { ChargeRule } from '../settlement.js';
import { transitionJob } from '../transition.js';

export interface JobFailure {
  /** Machine-readable code shown as the job's `error.code` (trainer codes, WORKER_LOST, …). */
  code: string;
  /** One readable line; kept to 2,000 characters. */
  message: string;
  /** Who pays: the user for a failure caused by their data or settings, nobody for the platform's. */
  charge: ChargeRule;
}

/**
 * Ends a job as FAILED: settles its reservation by `failure.charge`, records the error,
 * releases the worker. Runs in the caller's transaction with the status event.
 */
export async function failJob(trx: Tx, deps: { webhooks: WebhooksService }, job: TrainingJob, failure: JobFailure): Promise<TrainingJob> {
  const cost = await settleJobBilling(trx, job, failure.charge);
  return transitionJob(trx, deps, job, 'FAILED', {
    finished_at: new Date(),
    cost_micros: cost,
    error_code: failure.code,
    error_message: failure.message.slice(0, 2000),
    worker_id: null,
    lease_expires_at: null,
  });
}
