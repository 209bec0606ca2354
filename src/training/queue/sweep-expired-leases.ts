import { sql } from 'kysely';
import type { Db } from '../../db/connect.js';
import type { TrainingJob } from '../../db/tables/training.js';
import type { WebhooksService } from '../../webhooks/service.js';
import { notifyOnCommit } from '../../db/connect.js';
import { channels } from '../../db/notifier.js';
import { settleJobBilling } from '../settlement.js';
import { recordTransition } from '../transition.js';

/**
 * Finds RUNNING jobs whose worker stopped renewing its lease (crashed, killed, cut off)
 * and hands them on: back to QUEUED — the next worker resumes from the newest
 * checkpoint — or, once `max_attempts` workers have died on it, FAILED with
 * WORKER_LOST (a platform failure: nothing is charged). A job whose cancel was requested
 * is CANCELLED instead. Locked with SKIP LOCKED so sweepers in several processes split
 * the work. Returns how many jobs were handed on.
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
      let updated: TrainingJob;
      if (job.cancel_requested_at) {
        const cost = await settleJobBilling(trx, job, 'charge-trained');
        updated = await update(trx, job, {
          status: 'CANCELLED',
          finished_at: new Date(),
          cost_micros: cost,
          worker_id: null,
          lease_expires_at: null,
        });
        await recordTransition(trx, deps, updated);
      } else if (job.attempts >= job.max_attempts) {
        const cost = await settleJobBilling(trx, job, 'charge-nothing');
        updated = await update(trx, job, {
          status: 'FAILED',
          finished_at: new Date(),
          cost_micros: cost,
          worker_id: null,
          lease_expires_at: null,
          error_code: 'WORKER_LOST',
          error_message: `the worker running this job stopped responding ${job.attempts} times; giving up`,
        });
        await recordTransition(trx, deps, updated);
      } else {
        updated = await update(trx, job, { status: 'QUEUED', worker_id: null, lease_expires_at: null });
        await recordTransition(trx, deps, updated, { reason: 'worker lost; resuming from the newest checkpoint' });
        await notifyOnCommit(trx, channels.jobQueue, job.id);
      }
    }
    return expired.rows.length;
  });
}

async function update(trx: Db, job: TrainingJob, fields: Record<string, unknown>): Promise<TrainingJob> {
  return trx
    .updateTable('training_jobs')
    .set({ ...fields, updated_at: sql`now()` })
    .where('id', '=', job.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}
