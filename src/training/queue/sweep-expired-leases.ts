import { sql } from 'kysely';
import type { Db } from '../../db/connect.js';
import type { TrainingJob } from '../../db/tables/training.js';
import type { WebhooksService } from '../../webhooks/service.js';
import { cancelJob } from './cancel-job.js';
import { failJob } from './fail-job.js';
import { pauseJob } from './pause-job.js';
import { requeueJob } from './requeue-job.js';

/**
 * Finds RUNNING jobs whose worker stopped renewing its lease (crashed, killed, cut off)
 * and hands them on: back to QUEUED — the next worker resumes from the newest
 * checkpoint — or, once `max_attempts` workers have died on it, FAILED with
 * WORKER_LOST (a platform failure: nothing is charged). A job whose cancel was requested
 * is CANCELLED instead, and one whose pause was requested is PAUSED (its newest
 * checkpoint stays for the resume). Locked with SKIP LOCKED so sweepers in several
 * processes split the work. Returns how many jobs were handed on.
 */
export async function sweepExpiredLeases(db: Db, deps: { webhooks: WebhooksService }, limit = 20): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const expired = await sql<TrainingJob>`
      select * from training_jobs
       where status = 'RUNNING' and lease_expires_at < now()
       order by lease_expires_at
       for update skip locked
       limit ${limit}`.execute(trx);
    for (const job of expired.rows) {
      if (job.cancel_requested_at) {
        await cancelJob(trx, deps, job);
      } else if (job.pause_requested_at) {
        await pauseJob(trx, deps, job, { refundAttempt: false, reason: 'worker lost while pausing' });
      } else if (job.attempts >= job.max_attempts) {
        await failJob(trx, deps, job, {
          code: 'WORKER_LOST',
          message: `the worker running this job stopped responding ${job.attempts} times; giving up`,
          charge: 'charge-nothing',
        });
      } else {
        await requeueJob(trx, deps, job, { reason: 'worker lost; resuming from the newest checkpoint', refundAttempt: false });
      }
    }
    return expired.rows.length;
  });
}
