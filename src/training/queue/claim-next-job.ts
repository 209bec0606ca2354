import { sql } from 'kysely';
import type { Db } from '../../db/connect.js';
import type { TrainingJob } from '../../db/tables/training.js';
import type { WebhooksService } from '../../webhooks/service.js';
import { recordTransition } from '../transition.js';

/**
 * Claims the next queued job — highest priority first, FIFO within a priority — and
 * marks it RUNNING under this worker's lease, in one statement: `FOR UPDATE SKIP LOCKED`
 * lets any number of workers claim concurrently without waiting on each other or taking
 * the same job. The attempt counter is bumped here, so a job whose workers keep dying
 * runs out of attempts (see sweep-expired-leases.ts). Returns undefined when the queue is
 * empty.
 */
export async function claimNextJob(
  db: Db,
  deps: { webhooks: WebhooksService },
  workerId: string,
  leaseSeconds: number,
): Promise<TrainingJob | undefined> {
  return db.transaction().execute(async (trx) => {
    const claimed = await sql<TrainingJob>`
      update training_jobs
         set status = 'RUNNING',
             worker_id = ${workerId},
             lease_expires_at = now() + make_interval(secs => ${leaseSeconds}),
             attempts = attempts + 1,
             started_at = coalesce(started_at, now()),
             updated_at = now()
       where id = (
         select id from training_jobs
          where status = 'QUEUED'
          order by priority desc, queued_at, id
          for update skip locked
          limit 1)
      returning *`.execute(trx);
    const job = claimed.rows[0];
    if (!job) return undefined;
    await recordTransition(trx, deps, job, { attempt: job.attempts });
    return job;
  });
}
