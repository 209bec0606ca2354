import type { Tx } from '../db/connect.js';
import type { TrainingJob } from '../db/tables/training.js';
import type { WebhooksService } from '../webhooks/service.js';
import { checkpointId } from './checkpoints.js';
import { appendJobEvents } from './job-events.js';

/**
 * Stores a checkpoint the trainer reported, with its event and its (opt-in) webhook, and
 * forgets the checkpoints the trainer has since removed (`onDisk`: the steps whose
 * folders exist now), so the job lists only checkpoints that can be used. The event and
 * the webhook name the checkpoint by its step; the folder stays on the server.
 */
export async function recordCheckpoint(
  trx: Tx,
  deps: { webhooks: WebhooksService },
  job: TrainingJob,
  checkpoint: { step: number; path: string },
  onDisk: readonly number[],
): Promise<void> {
  const { step, path } = checkpoint;
  await trx
    .insertInto('training_checkpoints')
    .values({ job_id: job.id, step, path })
    .onConflict((oc) => oc.columns(['job_id', 'step']).doUpdateSet({ path }))
    .execute();
  const kept = [...new Set([...onDisk, step])];
  await trx.deleteFrom('training_checkpoints').where('job_id', '=', job.id).where('step', 'not in', kept).execute();
  const id = checkpointId(step);
  await appendJobEvents(trx, job.id, [{ type: 'checkpoint', step, status: 'RUNNING', payload: { jobId: job.id, step, checkpointId: id } }]);
  await deps.webhooks.enqueue(trx, {
    type: 'training.checkpoint',
    accountId: job.account_id,
    data: { jobId: job.id, status: 'RUNNING', step, checkpointId: id },
  });
}
