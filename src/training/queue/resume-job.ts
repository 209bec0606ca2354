import type { Tx } from '../../db/connect.js';
import { notifyOnCommit } from '../../db/connect.js';
import { channels } from '../../db/notifier.js';
import type { TrainingJob } from '../../db/tables/training.js';
import type { WebhooksService } from '../../webhooks/service.js';
import { transitionJob } from '../transition.js';

/**
 * Queues a PAUSED job again, behind the jobs already waiting (a pause gives the place
 * up). The worker that claims it resumes from its newest checkpoint. Wakes the workers on
 * commit.
 */
export async function resumeJob(trx: Tx, deps: { webhooks: WebhooksService }, job: TrainingJob): Promise<TrainingJob> {
  const updated = await transitionJob(trx, deps, job, 'QUEUED', { queued_at: new Date() });
  await notifyOnCommit(trx, channels.jobQueue, job.id);
  return updated;
}
