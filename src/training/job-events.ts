import { sql } from 'kysely';
import type { Tx } from '../db/connect.js';
import { notifyOnCommit } from '../db/connect.js';
import { channels } from '../db/notifier.js';
import type { TrainingEventType, TrainingJob, TrainingStatus } from '../db/tables/training.js';

export interface NewTrainingEvent {
  type: TrainingEventType;
  step: number;
  status: TrainingStatus;
  payload: Record<string, unknown>;
}

/**
 * Appends events to a job's stream in the caller's transaction and wakes subscribers on
 * commit. Sequence numbers come from the job row's counter (bumped in the same statement),
 * so they are gap-free per job except where a step was already stored: a trainer resumed
 * from a checkpoint re-emits the steps after it, and the unique (job, step) index keeps the
 * first copy — deterministic resume makes both copies equal anyway.
 */
export async function appendJobEvents(trx: Tx, jobId: string, events: NewTrainingEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const { event_seq: last } = await trx
    .updateTable('training_jobs')
    .set({ event_seq: sql`event_seq + ${events.length}` })
    .where('id', '=', jobId)
    .returning('event_seq')
    .executeTakeFirstOrThrow();
  const first = last - events.length + 1;
  const inserted = await trx
    .insertInto('training_events')
    .values(
      events.map((e, i) => ({
        job_id: jobId,
        seq: first + i,
        type: e.type,
        step: e.step,
        status: e.status,
        payload: JSON.stringify(e.payload),
      })),
    )
    .onConflict((oc) => oc.columns(['job_id', 'step']).where('type', '=', 'step').doNothing())
    .returning('seq')
    .execute();
  await notifyOnCommit(trx, channels.jobEvents, jobId);
  return inserted.length;
}

/** The payload of a status event: what `trainingProgress` and REST event pages show. */
export function statusPayload(job: TrainingJob, status: TrainingStatus, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    jobId: job.id,
    status,
    step: job.step,
    totalSteps: job.total_steps,
    epoch: job.epoch,
    loss: job.loss,
    ...extra,
  };
}
