import { sql } from 'kysely';
import type { Tx } from '../../db/connect.js';
import { notifyOnCommit } from '../../db/connect.js';
import { channels } from '../../db/notifier.js';
import type { TrainingJob } from '../../db/tables/training.js';

/**
 * Asks the worker running a job to stop its trainer at the next step boundary, to cancel
 * or to pause it: stamps the request on the row (the worker's heartbeat sees it even if
 * the NOTIFY is missed, and a sweeper honours it if the worker is lost) and wakes the
 * worker on commit. The worker ends the job (CANCELLED / PAUSED) once the trainer has
 * checkpointed and exited. Repeating a request keeps its first time.
 */
export async function requestStop(trx: Tx, job: TrainingJob, why: 'cancel' | 'pause'): Promise<TrainingJob> {
  const column = why === 'cancel' ? 'cancel_requested_at' : 'pause_requested_at';
  const updated = await trx
    .updateTable('training_jobs')
    .set({ [column]: sql<Date>`coalesce(${sql.ref(column)}, now())` })
    .where('id', '=', job.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await notifyOnCommit(trx, why === 'cancel' ? channels.jobCancel : channels.jobPause, job.id);
  return updated;
}
