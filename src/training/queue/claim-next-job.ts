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
 * runs out of attempts (see sweep-expired-leases.ts). The statement also tells whether
 * this is the job's first start (`started_at` was empty), which alone announces
 * `training.started`. Returns undefined when the queue is empty.
 */
export async function claimNextJob(
  db: Db,
  deps: { webhooks: WebhooksService },
  workerId: string,
  leaseSeconds: number,
): Promise<TrainingJob | undefined> {
  return db.transaction().execute(async (trx) => {
    const claimed = await sql<TrainingJob & { first_start: boolean }>`
      with next as (
        select id, started_at is null as first_start
          from training_jobs
         where status = 'QUEUED'
         order by priority desc, queued_at, id
         for update skip locked
         limit 1)
      update training_jobs j
         set status = 'RUNNING',
             worker_id = ${workerId},
             lease_expires_at = now() + make_interval(secs => ${leaseSeconds}),
             attempts = j.attempts + 1,
             started_at = coalesce(j.started_at, now()),
             updated_at = now()
        from next
       where j.id = next.id
      returning j.*, next.first_start`.execute(trx);
    const row = claimed.rows[0];
    if (!row) return undefined;
    const { first_start: firstStart, ...job } = row;
    await recordTransition(trx, deps, job, { from: 'QUEUED', extra: { attempt: job.attempts }, firstStart });
    return job;
  });
}
