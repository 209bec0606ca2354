import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Db } from '../db/connect.js';
import type { Notifier } from '../db/notifier.js';
import { channels } from '../db/notifier.js';
import type { Logger } from '../log.js';
import { periodicRunner } from '../runner.js';
import type { Runner } from '../runner.js';
import { claimNextJob } from './queue/claim-next-job.js';
import { renewLease } from './queue/renew-lease.js';
import { sweepExpiredLeases } from './queue/sweep-expired-leases.js';
import { JobRun } from './run-job.js';
import type { RunJobDeps } from './run-job.js';

export interface TrainingWorkerOptions extends Omit<RunJobDeps, 'workerId'> {
  notifier: Notifier;
  concurrency: number;
  leaseSeconds: number;
}

/** How long a stopping trainer gets to checkpoint and exit before it is killed. */
const STOP_GRACE_MS = 8_000;

/**
 * The trainer worker: claims queued jobs (up to `concurrency` at once), runs one trainer
 * child per job, renews each job's lease every `leaseSeconds / 3`, and stops a job's
 * trainer when its cancel or pause is requested. Wakes on NOTIFY from the queue and polls every
 * few seconds in case a notification was missed.
 *
 * Lease numbers: 30 s by default, heartbeat every 10 s — a worker must miss three
 * heartbeats in a row before its job is re-queued, and a crashed worker's job is picked
 * up again within ~30–45 s (lease + sweep interval).
 */
export function createTrainingWorker(opts: TrainingWorkerOptions): Runner {
  const workerId = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const log = opts.log.child({ workerId });
  const runs = new Map<string, { run: JobRun; done: Promise<unknown> }>();
  let stopping = false;
  let claiming: Promise<void> | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  const unlisteners: Array<() => Promise<void>> = [];

  const fill = (): Promise<void> => {
    if (claiming || stopping) return claiming ?? Promise.resolve();
    claiming = claimLoop().finally(() => {
      claiming = undefined;
    });
    return claiming;
  };

  const claimLoop = async () => {
    try {
      while (!stopping && runs.size < opts.concurrency) {
        const job = await claimNextJob(opts.db, opts, workerId, opts.leaseSeconds);
        if (!job) break;
        log.info({ jobId: job.id, attempt: job.attempts }, 'claimed training job');
        const run = new JobRun({ ...opts, log, workerId }, job);
        const done = run
          .run()
          .then((outcome) => log.info({ jobId: job.id, outcome }, 'training job left this worker'))
          .catch((err) => log.error({ err, jobId: job.id }, 'training job supervision failed'))
          .finally(() => {
            runs.delete(job.id);
            if (!stopping) void fill();
          });
        runs.set(job.id, { run, done });
        // Claimed while stop() began: hand it straight back.
        if (stopping) run.requestStop('shutdown');
      }
    } catch (err) {
      log.warn({ err }, 'claiming a job failed; retrying soon');
    }
  };

  const heartbeat = async () => {
    for (const [jobId, { run }] of runs) {
      try {
        const lease = await renewLease(opts.db, jobId, workerId, opts.leaseSeconds);
        if (!lease.held) {
          log.warn({ jobId }, 'lost the lease on a running job; stopping its trainer');
          run.requestStop('lost');
        } else if (lease.cancelRequested) {
          run.requestStop('cancel');
        } else if (lease.pauseRequested) {
          run.requestStop('pause');
        }
      } catch (err) {
        log.warn({ err, jobId }, 'lease renewal failed');
      }
    }
  };

  const sweep = async () => {
    try {
      const swept = await sweepExpiredLeases(opts.db, opts);
      if (swept) log.info({ swept }, 're-queued or failed jobs whose worker was lost');
    } catch (err) {
      log.warn({ err }, 'lease sweep failed');
    }
  };

  const schedulePoll = () => {
    if (stopping) return;
    // Jitter spreads the sweeps of many workers apart.
    pollTimer = setTimeout(
      async () => {
        await sweep();
        await fill();
        schedulePoll();
      },
      2_000 + Math.random() * 1_000,
    );
    pollTimer.unref();
  };

  return {
    name: 'training-worker',
    async start() {
      unlisteners.push(await opts.notifier.listen(channels.jobQueue, () => void fill()));
      unlisteners.push(
        await opts.notifier.listen(channels.jobCancel, (jobId) => {
          runs.get(jobId)?.run.requestStop('cancel');
        }),
      );
      unlisteners.push(
        await opts.notifier.listen(channels.jobPause, (jobId) => {
          runs.get(jobId)?.run.requestStop('pause');
        }),
      );
      heartbeatTimer = setInterval(() => void heartbeat(), (opts.leaseSeconds * 1000) / 3);
      heartbeatTimer.unref();
      await sweep();
      void fill();
      schedulePoll();
      log.info({ concurrency: opts.concurrency }, 'training worker started');
    },
    async stop() {
      stopping = true;
      if (pollTimer) clearTimeout(pollTimer);
      for (const unlisten of unlisteners.splice(0)) await unlisten();
      await claiming;
      for (const { run } of runs.values()) run.requestStop('shutdown');
      const killTimer = setTimeout(() => {
        for (const { run } of runs.values()) run.kill();
      }, STOP_GRACE_MS);
      await Promise.allSettled([...runs.values()].map((r) => r.done));
      clearTimeout(killTimer);
      if (heartbeatTimer) clearInterval(heartbeatTimer);
    },
  };
}

/** A sweeper without a worker, for api processes: lost jobs are re-queued even when no worker sweeps. */
export function createLeaseSweeper(opts: { db: Db; log: Logger; webhooks: RunJobDeps['webhooks'] }): Runner {
  return periodicRunner(
    'lease-sweeper',
    { firstMs: 1_000, everyMs: 5_000, jitterMs: 5_000 },
    () => sweepExpiredLeases(opts.db, opts),
    (err) => opts.log.warn({ err }, 'lease sweep failed'),
  );
}
