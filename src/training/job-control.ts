import type { Db, Tx } from '../db/connect.js';
import type { TrainingJob } from '../db/tables/training.js';
import { TERMINAL_STATUSES } from '../db/tables/training.js';
import { DomainError, NotFoundError } from '../errors.js';
import type { WebhooksService } from '../webhooks/service.js';
import { cancelJob } from './queue/cancel-job.js';
import { lockJob } from './queue/lock-job.js';
import { pauseJob } from './queue/pause-job.js';
import { requestStop } from './queue/request-stop.js';
import { resumeJob } from './queue/resume-job.js';
import { withdrawPause } from './queue/withdraw-pause.js';

/**
 * How long an API call that cancels or pauses a running job waits for the trainer to
 * stop before answering (with `cancelRequested` / `pauseRequested` set if it has not):
 * on CPU a step and a checkpoint take well under a second for small models; a large
 * model's checkpoint can take longer, and a client need not hold its request open for it.
 */
export const STOP_WAIT_MS = 10_000;

/** What a user can do to a job once it is started; every call is safe to repeat. */
export interface JobControl {
  /**
   * VALIDATING, QUEUED or PAUSED: CANCELLED at once. RUNNING: its trainer is stopped at the
   * next step and the worker cancels it (the job shows `cancelRequested` meanwhile).
   * CANCELLED: unchanged. SUCCEEDED / FAILED: JOB_ALREADY_FINISHED.
   */
  cancel(accountId: string, jobId: string): Promise<TrainingJob>;
  /**
   * QUEUED: PAUSED at once. RUNNING: its trainer finishes the current step, checkpoints
   * and exits, then the worker pauses it (`pauseRequested` meanwhile). PAUSED: unchanged.
   * VALIDATING: JOB_NOT_PAUSABLE (it holds no reservation yet; start it again later, or
   * cancel it). Finished: JOB_ALREADY_FINISHED.
   */
  pause(accountId: string, jobId: string): Promise<TrainingJob>;
  /**
   * PAUSED: QUEUED again; the worker that claims it resumes from its newest checkpoint.
   * RUNNING with a pause pending: the pause is withdrawn. Any other unfinished job:
   * unchanged. Finished: JOB_ALREADY_FINISHED.
   */
  resume(accountId: string, jobId: string): Promise<TrainingJob>;
}

function alreadyFinished(job: TrainingJob): DomainError {
  return new DomainError('JOB_ALREADY_FINISHED', `job ${job.id} already finished (${job.status})`, 409, { jobStatus: job.status });
}

/**
 * The user's controls over a job, shared by GraphQL, REST and the CLI. Each runs in one
 * transaction on the locked job row and ends in one of the queue's statements
 * (src/training/queue), so it cannot race the worker.
 */
export function createJobControl(deps: { db: Db; webhooks: WebhooksService }): JobControl {
  const onOwnJob = (accountId: string, jobId: string, body: (trx: Tx, job: TrainingJob) => Promise<TrainingJob>) =>
    deps.db.transaction().execute(async (trx) => {
      const job = await lockJob(trx, jobId, accountId);
      if (!job) throw new NotFoundError('training job', jobId);
      return body(trx, job);
    });

  return {
    cancel: (accountId, jobId) =>
      onOwnJob(accountId, jobId, async (trx, job) => {
        if (job.status === 'CANCELLED') return job;
        if (TERMINAL_STATUSES.includes(job.status)) throw alreadyFinished(job);
        if (job.status === 'RUNNING') return requestStop(trx, job, 'cancel');
        return cancelJob(trx, deps, job);
      }),

    pause: (accountId, jobId) =>
      onOwnJob(accountId, jobId, async (trx, job) => {
        switch (job.status) {
          case 'PAUSED':
            return job;
          case 'QUEUED':
            return pauseJob(trx, deps, job, { refundAttempt: false });
          case 'RUNNING':
            return requestStop(trx, job, 'pause');
          case 'VALIDATING':
            throw new DomainError(
              'JOB_NOT_PAUSABLE',
              `job ${job.id} is waiting for its dataset to be validated; it can be paused once it is QUEUED or RUNNING`,
              409,
              { jobStatus: job.status },
            );
          default:
            throw alreadyFinished(job);
        }
      }),

    resume: (accountId, jobId) =>
      onOwnJob(accountId, jobId, async (trx, job) => {
        if (TERMINAL_STATUSES.includes(job.status)) throw alreadyFinished(job);
        if (job.status === 'PAUSED') return resumeJob(trx, deps, job);
        if (job.status === 'RUNNING' && job.pause_requested_at) return withdrawPause(trx, job);
        return job;
      }),
  };
}
