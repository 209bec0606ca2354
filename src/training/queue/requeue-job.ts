import type { Tx } from '../../db/connect.js';
import { notifyOnCommit } from '../../db/connect.js';
import { channels } from '../../db/notifier.js';
import type { TrainingJob } from '../../db/tables/training.js';
import type { WebhooksService } from '../../webhooks/service.js';
import { transitionJob } from '../transition.js';

/**
 * Hands a RUNNING job back to the queue, keeping its place (`queued_at`) and its
 * reservation: the next worker resumes it from its newest checkpoint. `refundAttempt`
 * when the worker let go in good order (shutdown, a pause withdrawn), so the attempt does
 * not count towards `max_attempts`; not when the worker was lost. Wakes the workers on
 * commit.
 */
export async function requeueJob(
  trx: Tx,
  deps: { webhooks: WebhooksService },
  job: TrainingJob,
  opts: { reason: string; refundAttempt: boolean },
): Promise<TrainingJob> {
  const updated = await transitionJob(
    trx,
    deps,
    job,
    'QUEUED',
    { worker_id: null, lease_expires_at: null, ...(opts.refundAttempt ? { attempts: Math.max(0, job.attempts - 1) } : {}) },
    { reason: opts.reason },
  );
  await notifyOnCommit(trx, channels.jobQueue, job.id);
  return updated;
}
