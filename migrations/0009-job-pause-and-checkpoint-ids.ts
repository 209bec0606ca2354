import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Jobs can be paused: status PAUSED, and `pause_requested_at`, set while a running job's
 * trainer is being stopped at its next step (the worker finishes the pause once the
 * trainer has checkpointed and exited).
 *
 * Checkpoint events no longer carry the server's folder path: API clients name a
 * checkpoint by its step (`checkpointId: "ckpt-step-N"`). Events stored before this
 * migration are rewritten the same way, so old jobs leak no path either.
 *
 * A job's checkpoint list shows the evaluation loss at each checkpoint's step: an index
 * on evaluation events by step keeps that lookup off the job's (possibly long) event list.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table training_jobs drop constraint training_jobs_status_check`.execute(db);
  await sql`
    alter table training_jobs
      add constraint training_jobs_status_check
        check (status in ('VALIDATING', 'QUEUED', 'RUNNING', 'PAUSED', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
      add column pause_requested_at timestamptz
  `.execute(db);
  await sql`
    update training_events
       set payload = (payload - 'path') || jsonb_build_object('checkpointId', 'ckpt-step-' || step)
     where type = 'checkpoint' and payload ? 'path'
  `.execute(db);
  await sql`create index training_events_eval_idx on training_events (job_id, step) where type = 'eval'`.execute(db);
}
