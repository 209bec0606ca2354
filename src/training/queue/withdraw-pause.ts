import type { Tx } from '../../db/connect.js';
import type { TrainingJob } from '../../db/tables/training.js';

/**
 * Withdraws a pending pause of a RUNNING job (resumed before its trainer stopped). If the
 * trainer has already been told to stop, the worker then finds no pause on the row and
 * hands the job back to the queue instead, to resume from the checkpoint just written.
 */
export async function withdrawPause(trx: Tx, job: TrainingJob): Promise<TrainingJob> {
  return trx
    .updateTable('training_jobs')
    .set({ pause_requested_at: null })
    .where('id', '=', job.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}
