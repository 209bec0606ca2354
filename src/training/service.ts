import { sql } from 'kysely';
import { notifyOnCommit } from '../db/connect.js';
import { channels } from '../db/notifier.js';
import type { Dataset } from '../db/tables/datasets.js';
import type { TrainingEvent, TrainingJob, TrainingStatus } from '../db/tables/training.js';
import { DomainError, InvalidInputError, NotFoundError } from '../errors.js';
import { periodicRunner } from '../runner.js';
import type { Runner, Roles } from '../runner.js';
import type { ServiceDeps } from '../service-deps.js';
import type { DatasetsService } from '../datasets/service.js';
import type { WebhooksService } from '../webhooks/service.js';
import { findPython } from '../engine/python.js';
import { reserveFunds } from '../billing/reservations.js';
import { JobEventHub, streamJobEvents } from './event-hub.js';
import { estimateFineTune, resolveJob, startFineTune } from './start-job.js';
import type { Estimate, StartFineTuneRequest } from './start-job.js';
import { listCheckpoints } from './checkpoints.js';
import type { JobCheckpoint } from './checkpoints.js';
import { createJobControl } from './job-control.js';
import { failJob } from './queue/fail-job.js';
import { readLossCurve } from './loss-curve.js';
import type { LossCurve } from './loss-curve.js';
import { transitionJob } from './transition.js';
import { createLeaseSweeper, createTrainingWorker } from './worker.js';
import { trainingEventListing, trainingJobListing } from './listings.js';
import { fetchPage } from '../paging/listing.js';

export interface JobPage {
  jobs: TrainingJob[];
  hasNextPage: boolean;
}

export interface EventPage {
  events: TrainingEvent[];
  hasNextPage: boolean;
}

export interface TrainingService {
  start(accountId: string, req: StartFineTuneRequest): Promise<TrainingJob>;
  estimate(accountId: string, req: StartFineTuneRequest): Promise<Estimate>;
  get(accountId: string, id: string): Promise<TrainingJob>;
  find(accountId: string, id: string): Promise<TrainingJob | undefined>;
  /** Newest first; `after` is a cursor of trainingJobListing. */
  list(
    accountId: string,
    opts?: { first?: number | null; after?: string | null; status?: TrainingStatus | null; metadata?: Record<string, string> | null },
  ): Promise<JobPage>;
  /**
   * Cancels a job: a waiting (queued, paused) one at once; a running one is stopped at
   * its next step (waits up to `waitMs` for it to be CANCELLED). Repeating it is
   * harmless; a finished job answers JOB_ALREADY_FINISHED. See JobControl.
   */
  cancel(accountId: string, id: string, opts?: { waitMs?: number }): Promise<TrainingJob>;
  /**
   * Pauses a job: a queued one at once; a running one once its trainer has checkpointed
   * (waits up to `waitMs` for it to be PAUSED). It keeps its reservation. See JobControl.
   */
  pause(accountId: string, id: string, opts?: { waitMs?: number }): Promise<TrainingJob>;
  /** Queues a paused job again, to resume from its newest checkpoint. See JobControl. */
  resume(accountId: string, id: string): Promise<TrainingJob>;
  /**
   * Stored events in order, after the cursor `after` of trainingEventListing (REST pages,
   * the steps connection); `newestFirst` pages from the newest event back (OpenAI's event list).
   */
  events(
    accountId: string,
    jobId: string,
    opts?: { first?: number | null; after?: string | null; types?: TrainingEvent['type'][]; newestFirst?: boolean },
  ): Promise<EventPage>;
  /**
   * The job's checkpoints that still exist, oldest first, with the metrics at their step.
   * Each carries the server's folder (`path`) for server-side use: adapters must not show it.
   */
  checkpoints(accountId: string, jobId: string): Promise<JobCheckpoint[]>;
  /** Every stored step after `afterStep` as columns (loss, learning rate, epoch) plus the validation losses. */
  lossCurve(accountId: string, jobId: string, opts?: { afterStep?: number }): Promise<LossCurve>;
  /** Stored then live events (see streamJobEvents); checks ownership first. */
  progress(
    accountId: string,
    jobId: string,
    opts: { afterStep?: number | null; types?: TrainingEvent['type'][]; signal?: AbortSignal },
  ): Promise<AsyncGenerator<TrainingEvent>>;
  /** Waits until the job reaches one of `statuses` (tests, the REST cancel). */
  waitFor(jobId: string, statuses: TrainingStatus[], timeoutMs: number): Promise<TrainingJob | undefined>;
  runners(roles: Roles): Runner[];
  close(): Promise<void>;
}

export function createTrainingService(deps: ServiceDeps & { datasets: DatasetsService; webhooks: WebhooksService }): TrainingService {
  const { db, config, log } = deps;
  const hub = new JobEventHub(db, deps.notifier, log);
  const control = createJobControl({ db, webhooks: deps.webhooks });
  const startDeps = {
    db,
    catalog: deps.catalog,
    datasets: deps.datasets,
    webhooks: deps.webhooks,
    maxAttempts: config.maxAttempts,
    checkWebhookUrl: (url: string) => deps.webhooks.checkUrl(url, 'webhookUrl'),
  };

  // When a dataset finishes validating, jobs waiting on it are queued or failed.
  deps.datasets.onValidated((dataset) => promoteValidatingJobs(dataset));

  async function promoteValidatingJobs(dataset: Dataset): Promise<void> {
    const waiting = await db
      .selectFrom('training_jobs')
      .selectAll()
      .where('status', '=', 'VALIDATING')
      .where((eb) => eb.or([eb('training_dataset_id', '=', dataset.id), eb('validation_dataset_id', '=', dataset.id)]))
      .execute();
    for (const job of waiting) {
      try {
        await promote(job);
      } catch (err) {
        log.error({ err, jobId: job.id }, 'could not queue a job after its dataset was validated');
      }
    }
  }

  async function promote(job: TrainingJob): Promise<void> {
    // Nothing is reserved yet, so nothing is charged.
    const fail = (code: string, message: string) =>
      db.transaction().execute((trx) => failJob(trx, deps, job, { code, message, charge: 'charge-nothing' }));
    const datasets = await Promise.all(
      [job.training_dataset_id, job.validation_dataset_id]
        .filter((id): id is string => Boolean(id))
        .map((id) => deps.datasets.find(job.account_id, id)),
    );
    if (datasets.some((d) => !d)) return void (await fail('DATASET_NOT_READY', 'a dataset of this job was deleted'));
    if (datasets.some((d) => d!.status === 'VALIDATING')) return; // the other one will promote it
    const invalid = datasets.find((d) => d!.status === 'INVALID');
    if (invalid) return void (await fail('DATASET_NOT_READY', `dataset ${invalid.id} is INVALID (${invalid.error_count} errors)`));
    const model = await deps.catalog.getModel(job.account_id, job.base_model_id);
    try {
      const requested = job.requested as { hyperparameters?: unknown };
      const { hp, tokens, cost } = await resolveJob(
        deps,
        { model, method: job.method, trainable: job.trainable, training: datasets[0]!, validation: datasets[1] ?? null },
        requested.hyperparameters,
      );
      await db.transaction().execute(async (trx) => {
        const reservation = await reserveFunds(trx, {
          accountId: job.account_id,
          amountMicros: cost,
          purpose: 'training',
          referenceId: job.id,
        });
        await transitionJob(trx, deps, job, 'QUEUED', {
          hyperparameters: JSON.stringify(hp),
          estimated_tokens: tokens,
          estimated_cost_micros: cost,
          reservation_id: reservation.id,
          queued_at: new Date(),
        });
        await notifyOnCommit(trx, channels.jobQueue, job.id);
      });
    } catch (err) {
      if (err instanceof DomainError) return void (await fail(err.code, err.message));
      throw err;
    }
  }

  /**
   * Jobs wait in VALIDATING for their dataset; the process that validates it promotes them.
   * If that process died in between, this finds the jobs whose datasets are no longer
   * VALIDATING and promotes them (every ~10 s, in every process).
   */
  function validatingJobsSweeper(): Runner {
    return periodicRunner(
      'validating-jobs',
      { firstMs: 5_000, everyMs: 10_000, jitterMs: 2_000 },
      async () => {
        const stale = await db
          .selectFrom('training_jobs')
          .innerJoin('datasets', 'datasets.id', 'training_jobs.training_dataset_id')
          .selectAll('training_jobs')
          .where('training_jobs.status', '=', 'VALIDATING')
          .where('datasets.status', '!=', 'VALIDATING')
          .where('training_jobs.created_at', '<', sql<Date>`now() - interval '10 seconds'`)
          .limit(20)
          .execute();
        for (const job of stale) await promote(job).catch((err) => log.warn({ err, jobId: job.id }, 'promoting a waiting job failed'));
      },
      (err) => log.warn({ err }, 'validating-jobs sweep failed'),
    );
  }

  const service: TrainingService = {
    start: (accountId, req) => startFineTune(startDeps, accountId, req),
    estimate: (accountId, req) => estimateFineTune(startDeps, accountId, req),

    async get(accountId, id) {
      const job = await this.find(accountId, id);
      if (!job) throw new NotFoundError('training job', id);
      return job;
    },

    find(accountId, id) {
      return db.selectFrom('training_jobs').selectAll().where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
    },

    async list(accountId, opts = {}) {
      const { first, after } = trainingJobListing.request(opts);
      let query = db.selectFrom('training_jobs').selectAll().where('account_id', '=', accountId).orderBy('id', 'desc');
      if (after) query = query.where('id', '<', after);
      if (opts.status) query = query.where('status', '=', opts.status);
      // Every pair must match (jsonb containment).
      if (opts.metadata && Object.keys(opts.metadata).length > 0) {
        query = query.where(sql<boolean>`metadata @> ${JSON.stringify(opts.metadata)}::jsonb`);
      }
      const page = await fetchPage(query, first);
      return { jobs: page.items, hasNextPage: page.hasNextPage };
    },

    async cancel(accountId, id, opts = {}) {
      const job = await control.cancel(accountId, id);
      if (job.status !== 'RUNNING' || !opts.waitMs) return job;
      return (await this.waitFor(id, ['CANCELLED', 'SUCCEEDED', 'FAILED'], opts.waitMs)) ?? (await this.get(accountId, id));
    },

    async pause(accountId, id, opts = {}) {
      const job = await control.pause(accountId, id);
      if (job.status !== 'RUNNING' || !opts.waitMs) return job;
      return (
        (await this.waitFor(id, ['PAUSED', 'CANCELLED', 'SUCCEEDED', 'FAILED', 'QUEUED'], opts.waitMs)) ?? (await this.get(accountId, id))
      );
    },

    resume: (accountId, id) => control.resume(accountId, id),

    async events(accountId, jobId, opts = {}) {
      await this.get(accountId, jobId);
      const { first, after } = trainingEventListing.request(opts);
      if (after && after.jobId !== jobId) throw new InvalidInputError('after', 'invalid cursor');
      let query = db
        .selectFrom('training_events')
        .selectAll()
        .where('job_id', '=', jobId)
        .$if(!opts.newestFirst, (q) => q.where('seq', '>', after?.seq ?? 0).orderBy('seq'))
        .$if(Boolean(opts.newestFirst), (q) => (after ? q.where('seq', '<', after.seq) : q).orderBy('seq', 'desc'));
      if (opts.types?.length) query = query.where('type', 'in', opts.types);
      const page = await fetchPage(query, first);
      return { events: page.items, hasNextPage: page.hasNextPage };
    },

    async checkpoints(accountId, jobId) {
      await this.get(accountId, jobId);
      return listCheckpoints(db, jobId);
    },

    async lossCurve(accountId, jobId, opts = {}) {
      await this.get(accountId, jobId);
      return readLossCurve(db, jobId, opts.afterStep ?? 0);
    },

    async progress(accountId, jobId, opts) {
      await this.get(accountId, jobId);
      return streamJobEvents(hub, db, jobId, opts);
    },

    async waitFor(jobId, statuses, timeoutMs) {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), timeoutMs);
      try {
        const current = await db.selectFrom('training_jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
        if (!current || statuses.includes(current.status)) return current;
        // The stream replays the job's history first: only changes after `current` count
        // (a job paused and resumed before has a PAUSED event in its past).
        for await (const event of streamJobEvents(hub, db, jobId, { types: ['status'], signal: abort.signal })) {
          if (event.seq > current.event_seq && statuses.includes(event.status)) break;
        }
        const job = await db.selectFrom('training_jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
        return job && statuses.includes(job.status) ? job : undefined;
      } finally {
        clearTimeout(timer);
      }
    },

    runners(roles) {
      const list: Runner[] = [validatingJobsSweeper()];
      if (roles.worker) {
        list.push(
          createTrainingWorker({
            db,
            log,
            notifier: deps.notifier,
            catalog: deps.catalog,
            datasets: deps.datasets,
            webhooks: deps.webhooks,
            dataDir: config.dataDir,
            python: () => findPython(config.python),
            concurrency: config.workerConcurrency,
            leaseSeconds: config.leaseSeconds,
          }),
        );
      } else if (roles.api) {
        list.push(createLeaseSweeper({ db, log, webhooks: deps.webhooks }));
      }
      return list;
    },

    async close() {
      await hub.close();
    },
  };
  return service;
}
