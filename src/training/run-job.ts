/**
 * The worker's side of one job run: prepare the spec, spawn the trainer, follow its
 * protocol events, keep checkpoints, and settle the job. Over 400 lines because this is
 * the job lifecycle's core (docs/ARCHITECTURE.md): the state changes themselves are
 * statements in src/training/queue/, and this file is the one place that sequences them.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { Db, Tx } from '../db/connect.js';
import type { TrainingJob } from '../db/tables/training.js';
import type { Logger } from '../log.js';
import type { CatalogService } from '../catalog/service.js';
import type { DatasetsService } from '../datasets/service.js';
import type { WebhooksService } from '../webhooks/service.js';
import { PREFERENCE_METRICS, spawnTrainer } from '../engine/trainer-process.js';
import type { TrainerEvent, TrainerExit, TrainerRun } from '../engine/trainer-process.js';
import { lastLine } from '../engine/python.js';
import { DomainError } from '../errors.js';
import { isDiskFullError } from '../storage/disk-full.js';
import { appendJobEvents } from './job-events.js';
import type { NewTrainingEvent } from './job-events.js';
import { StaleTransitionError } from './transition.js';
import { USER_CAUSED_FAILURES } from './settlement.js';
import type { ChargeRule } from './settlement.js';
import { trainerSpecParts } from './hyperparameters.js';
import type { ResolvedHyperparameters } from './hyperparameters.js';
import { recordCheckpoint } from './record-checkpoint.js';
import { startingWeights } from './starting-weights.js';
import { redactServerPaths } from './redact-paths.js';
import { cancelJob } from './queue/cancel-job.js';
import { completeJob } from './queue/complete-job.js';
import { failJob } from './queue/fail-job.js';
import { lockJob } from './queue/lock-job.js';
import { pauseJob } from './queue/pause-job.js';
import { requeueJob } from './queue/requeue-job.js';

export interface RunJobDeps {
  db: Db;
  log: Logger;
  catalog: CatalogService;
  datasets: DatasetsService;
  webhooks: WebhooksService;
  dataDir: string;
  workerId: string;
  /** The interpreter with PyTorch (checked once per process, without blocking). */
  python: () => Promise<string>;
  /** Extra trainer environment (fault injection in tests). */
  trainerEnv?: NodeJS.ProcessEnv;
}

const DISK_FULL_MESSAGE =
  'the disk ran out of space while preparing the job (token shards and job folders live in the data folder); free space there and start the job again';

/** How a supervised run ended, from the worker's point of view. */
export type RunOutcome = 'succeeded' | 'failed' | 'cancelled' | 'paused' | 'requeued' | 'lost';

/** Why the worker stops a trainer before it ends on its own. */
export type StopReason = 'cancel' | 'pause' | 'shutdown' | 'lost';

export function jobPaths(dataDir: string, jobId: string) {
  const dir = path.join(dataDir, 'jobs', jobId);
  return { dir, spec: path.join(dir, 'spec.json'), checkpoints: path.join(dir, 'checkpoints'), output: path.join(dir, 'output') };
}

/** The steps of the complete checkpoints in a job's checkpoint folder (`step-NNNNNNNN`, trainer/PROTOCOL.md). */
/** Checkpoints a job keeps on disk: the newest two (docs/operations.md, "Paused jobs"). */
const KEPT_CHECKPOINTS = 2;
/**
 * What the trainer is told to keep: all of them. The worker removes old ones itself once a
 * newer one is recorded (`onEvent`), after the steps up to it are stored. When the trainer
 * pruned, a run whose stored steps lagged behind it (a worker killed while the trainer
 * wrote two more checkpoints) could be left with only checkpoints past the last stored
 * step — which the resume must drop — and started again from step 0.
 */
const TRAINER_KEEPS_ALL = 1_000_000;

/** The trainer's folder for the checkpoint of `step` (trainer/PROTOCOL.md: `step-NNNNNNNN`). */
function checkpointFolder(dir: string, step: number): string {
  return path.join(dir, `step-${String(step).padStart(8, '0')}`);
}

async function checkpointStepsOnDisk(dir: string): Promise<number[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.flatMap((name) => {
    const match = /^step-(\d+)$/.exec(name);
    return match ? [Number(match[1])] : [];
  });
}

/**
 * Supervises one claimed job: prepares the token shards and the spec, runs the trainer,
 * stores its events (steps in batches), and ends the run when the trainer exits through
 * the queue's statements (src/training/queue): SUCCEEDED with the fine-tuned model
 * registered and the bill settled, FAILED with the trainer's code and message,
 * CANCELLED, PAUSED, or back to QUEUED when the worker shuts down. Each of those is one
 * transaction with its event row.
 */
export class JobRun {
  private trainer: TrainerRun | undefined;
  private stepBuffer: Array<Extract<TrainerEvent, { type: 'step' }>> = [];
  private flushing: Promise<void> = Promise.resolve();
  private terminal: TrainerEvent | undefined;
  private stopReason: StopReason | undefined;
  private firstStep: { step: number; at: number } | undefined;
  private readonly log: Logger;

  constructor(
    private readonly deps: RunJobDeps,
    private job: TrainingJob,
  ) {
    this.log = deps.log.child({ jobId: job.id });
  }

  get id(): string {
    return this.job.id;
  }

  /**
   * SIGTERM the trainer: it checkpoints at the next step boundary and exits. What the
   * job becomes is decided from its row once the trainer is gone (see afterStop).
   */
  requestStop(reason: StopReason): void {
    this.stopReason ??= reason;
    this.trainer?.stop();
  }

  kill(): void {
    this.trainer?.kill();
  }

  async run(): Promise<RunOutcome> {
    const { deps } = this;
    const paths = jobPaths(deps.dataDir, this.job.id);
    let specPath: string;
    try {
      specPath = await this.prepare(paths);
    } catch (err) {
      if (isDiskFullError(err) || (err instanceof DomainError && err.code === 'INSUFFICIENT_STORAGE')) {
        this.log.error({ err }, 'the disk is full: job preparation failed');
        return this.finishFailed('DISK_FULL', DISK_FULL_MESSAGE, 'charge-nothing');
      }
      const message = err instanceof DomainError ? err.message : `could not prepare the job: ${(err as Error).message}`;
      const code = err instanceof DomainError ? err.code : 'PREPARATION_FAILED';
      if (!(err instanceof DomainError)) this.log.error({ err }, 'job preparation failed');
      return this.finishFailed(code, message, err instanceof DomainError ? 'charge-trained' : 'charge-nothing');
    }
    if (this.stopReason) return this.afterStop();

    const resume = await this.pruneUnreportedCheckpoints(paths.checkpoints);
    let python: string;
    try {
      python = await deps.python();
    } catch (err) {
      return this.finishFailed('PYTHON_NOT_FOUND', (err as Error).message, 'charge-nothing');
    }
    this.trainer = spawnTrainer({
      python,
      specPath,
      resume,
      log: this.log,
      onEvent: (event) => this.onEvent(event),
      ...(deps.trainerEnv ? { env: deps.trainerEnv } : {}),
    });
    if (this.stopReason) this.trainer.stop();
    const exit = await this.trainer.exited;
    await this.flushSteps();
    return this.settle(exit);
  }

  private async prepare(paths: ReturnType<typeof jobPaths>): Promise<string> {
    const { deps, job } = this;
    const model = await deps.catalog.getModel(job.account_id, job.base_model_id);
    const training = await deps.datasets.get(job.account_id, job.training_dataset_id);
    const trainShard = await deps.datasets.tokenization(training, model);
    let validationShard: string | null = null;
    if (job.validation_dataset_id) {
      const validation = await deps.datasets.get(job.account_id, job.validation_dataset_id);
      validationShard = (await deps.datasets.tokenization(validation, model)).shard_path;
    }
    const kind = { method: job.method, trainable: job.trainable };
    const hp = trainerSpecParts(job.hyperparameters as unknown as ResolvedHyperparameters, kind);
    const start = await startingWeights(deps, job);
    const spec = {
      version: 1,
      jobId: job.id,
      model: { path: start.path, weights: start.weights, adapters: start.adapters },
      method: job.method.toLowerCase(),
      trainable: job.trainable.toLowerCase(),
      data: { train: trainShard.shard_path, validation: validationShard },
      hyperparameters: hp.hyperparameters,
      checkpoints: { dir: paths.checkpoints, keep: TRAINER_KEEPS_ALL, ...hp.checkpoints },
      output: { dir: paths.output, mergeLora: true, exportOnnx: true },
      runtime: { device: 'auto', dtype: 'auto', threads: null, compile: false },
    };
    await fs.mkdir(paths.checkpoints, { recursive: true });
    const temp = `${paths.spec}.${process.pid}.tmp`;
    try {
      await fs.writeFile(temp, JSON.stringify(spec, null, 2));
      await fs.rename(temp, paths.spec);
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    }
    return paths.spec;
  }

  /**
   * Before a resume: drops checkpoints newer than the last stored step. A trainer whose
   * worker vanished may have checkpointed steps whose events never reached the database;
   * resuming from there would leave those steps missing from the job's history. Returns
   * whether a checkpoint remains to resume from.
   */
  private async pruneUnreportedCheckpoints(dir: string): Promise<boolean> {
    let remaining = false;
    for (const step of await checkpointStepsOnDisk(dir)) {
      if (step > this.job.step) {
        this.log.warn({ checkpointStep: step, lastStoredStep: this.job.step }, 'removing a checkpoint past the last stored step');
        await fs.rm(checkpointFolder(dir, step), { recursive: true, force: true });
      } else {
        remaining = true;
      }
    }
    return remaining;
  }

  private async onEvent(event: TrainerEvent): Promise<void> {
    switch (event.type) {
      case 'started':
        await this.deps.db
          .updateTable('training_jobs')
          .set({ total_steps: event.totalSteps, resumed_from_step: event.resumedFromStep })
          .where('id', '=', this.job.id)
          .execute();
        return;
      case 'step':
        this.firstStep ??= { step: event.step - 1, at: Date.now() };
        this.stepBuffer.push(event);
        this.flushSteps().catch(() => {});
        return;
      case 'eval':
        await this.flushSteps();
        await this.deps.db.transaction().execute(async (trx) => {
          await trx.updateTable('training_jobs').set({ eval_loss: event.loss }).where('id', '=', this.job.id).execute();
          await appendJobEvents(trx, this.job.id, [
            {
              type: 'eval',
              step: event.step,
              status: 'RUNNING',
              payload: {
                jobId: this.job.id,
                step: event.step,
                evalLoss: event.loss,
                ...optionalMetrics(event),
                ...preferenceMetrics(event),
              },
            },
          ]);
        });
        return;
      case 'checkpoint': {
        await this.flushSteps();
        // Every step up to this checkpoint is stored: the older ones past the kept few can go.
        const dir = path.dirname(event.path);
        const older = (await checkpointStepsOnDisk(dir)).filter((step) => step <= event.step).sort((a, b) => a - b);
        for (const step of older.slice(0, -KEPT_CHECKPOINTS)) {
          await fs.rm(checkpointFolder(dir, step), { recursive: true, force: true });
        }
        const onDisk = await checkpointStepsOnDisk(dir);
        await this.deps.db.transaction().execute((trx) => recordCheckpoint(trx, this.deps, this.job, event, onDisk));
        return;
      }
      case 'completed':
      case 'failed':
      case 'stopped':
        await this.flushSteps();
        this.terminal = event;
        return;
    }
  }

  /**
   * Writes buffered steps in one transaction: event rows, job progress, one NOTIFY.
   * Group commit: a step is written as soon as no write is running, and the steps that
   * arrive during a write go together in the next one — low latency when the trainer is
   * slow, large batches when it is fast (see bench/training-events.ts).
   */
  private flushSteps(): Promise<void> {
    const write = this.flushing.then(async () => {
      const batch = this.stepBuffer;
      this.stepBuffer = [];
      if (!batch.length) return;
      try {
        await this.writeSteps(batch);
      } catch (err) {
        // Keep the steps for the next write; if the database stays away, the job's lease
        // lapses and a resumed run re-emits them from its checkpoint.
        this.stepBuffer = [...batch, ...this.stepBuffer];
        throw err;
      }
    });
    this.flushing = write.catch((err) => this.log.warn({ err }, 'storing training steps failed; will retry'));
    return write;
  }

  private async writeSteps(batch: Array<Extract<TrainerEvent, { type: 'step' }>>): Promise<void> {
    const last = batch[batch.length - 1]!;
    const minLoss = Math.min(...batch.map((s) => s.loss));
    const elapsed = this.firstStep ? (Date.now() - this.firstStep.at) / 1000 : 0;
    const rate = this.firstStep && elapsed > 0 ? (last.step - this.firstStep.step) / elapsed : 0;
    const eta = rate > 0 ? (last.totalSteps - last.step) / rate : null;
    const events: NewTrainingEvent[] = batch.map((s) => ({
      type: 'step',
      step: s.step,
      status: 'RUNNING',
      payload: {
        jobId: this.job.id,
        step: s.step,
        totalSteps: s.totalSteps,
        epoch: s.epoch,
        loss: s.loss,
        learningRate: s.learningRate,
        gradNorm: s.gradNorm,
        tokens: s.tokens,
        tokensPerSecond: s.tokensPerSecond,
        trainerTime: s.time,
        ...optionalMetrics(s),
        ...preferenceMetrics(s),
      },
    }));
    await this.deps.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('training_jobs')
        .set({
          step: sql`greatest(step, ${last.step})`,
          total_steps: last.totalSteps,
          epoch: last.epoch,
          loss: last.loss,
          min_loss: sql`least(coalesce(min_loss, ${minLoss}), ${minLoss})`,
          tokens_per_second: last.tokensPerSecond,
          eta_seconds: eta,
          trained_tokens: sql`greatest(trained_tokens, ${last.tokens}::bigint)`,
          ...(typeof last.rewardAccuracy === 'number' ? { reward_metrics: JSON.stringify(preferenceMetrics(last)) } : {}),
          updated_at: sql`now()`,
        })
        .where('id', '=', this.job.id)
        .execute();
      await appendJobEvents(trx, this.job.id, events);
    });
  }

  private async settle(exit: TrainerExit): Promise<RunOutcome> {
    const terminal = this.terminal;
    if (exit.protocolError) {
      return this.finishFailed('INVALID_TRAINER_EVENT', exit.protocolError, 'charge-nothing');
    }
    if (terminal?.type === 'completed' && exit.code === 0) return this.finishSucceeded(terminal);
    if (terminal?.type === 'failed') {
      return this.finishFailed(
        terminal.code,
        terminal.message,
        USER_CAUSED_FAILURES.has(terminal.code) ? 'charge-trained' : 'charge-nothing',
      );
    }
    if (this.stopReason) return this.afterStop();
    const detail = lastLine(exit.stderrTail) || (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`);
    return this.finishFailed('TRAINER_CRASHED', `the trainer stopped unexpectedly: ${detail}`, 'charge-nothing');
  }

  /**
   * The trainer stopped because we asked. What the job becomes is read from its row, not
   * from why this worker stopped it: a cancel wins over a pause, and a pause withdrawn
   * (resumed before the trainer stopped) or a shutdown hands the job back to the queue.
   */
  private async afterStop(): Promise<RunOutcome> {
    if (this.stopReason === 'lost') return 'lost';
    let outcome: RunOutcome = 'lost';
    await this.finish(async (trx, j) => {
      if (j.cancel_requested_at) {
        await cancelJob(trx, this.deps, j);
        outcome = 'cancelled';
      } else if (j.pause_requested_at) {
        await pauseJob(trx, this.deps, j, { refundAttempt: true });
        outcome = 'paused';
      } else {
        const why = this.stopReason === 'shutdown' ? 'worker shut down' : 'pause withdrawn';
        await requeueJob(trx, this.deps, j, { reason: `${why}; resuming from the newest checkpoint`, refundAttempt: true });
        outcome = 'requeued';
      }
    });
    return outcome;
  }

  private async finishSucceeded(event: Extract<TrainerEvent, { type: 'completed' }>): Promise<RunOutcome> {
    const { model, adapter, onnx } = event.outputs;
    if (!model) return this.finishFailed('MISSING_OUTPUT', 'the trainer finished without a model folder', 'charge-nothing');
    const done = await this.finish((trx, j) =>
      completeJob(trx, this.deps, j, { outputs: { model, adapter, onnx }, tokens: event.tokens, step: event.step }),
    );
    // The new model shows in this process's catalog listings at once (others within 1 s).
    if (done) this.deps.catalog.invalidateListings();
    return done ? 'succeeded' : 'lost';
  }

  private async finishFailed(code: string, message: string, charge: ChargeRule): Promise<RunOutcome> {
    if (this.stopReason === 'lost') return 'lost';
    // The log keeps the message as the trainer wrote it; clients get it without server paths.
    this.log.warn({ code, message }, 'training job failed');
    const safe = redactServerPaths(message, this.deps.dataDir);
    const done = await this.finish((trx, j) => failJob(trx, this.deps, j, { code, message: safe, charge }));
    return done ? 'failed' : 'lost';
  }

  /**
   * Runs a final statement on the freshly locked row; a job taken from us meanwhile (a
   * sweeper re-queued it after our lease lapsed) is left alone. Returns whether it ran.
   */
  private async finish(body: (trx: Tx, job: TrainingJob) => Promise<unknown>): Promise<boolean> {
    try {
      await this.deps.db.transaction().execute(async (trx) => {
        const job = await lockJob(trx, this.job.id);
        if (job?.status !== 'RUNNING' || job.worker_id !== this.deps.workerId) throw new StaleTransitionError(this.job.id, 'RUNNING');
        await body(trx, job);
      });
      return true;
    } catch (err) {
      if (err instanceof StaleTransitionError) {
        this.log.warn('job was taken over before this worker could finish it');
        return false;
      }
      throw err;
    }
  }
}

/** A DPO event's reward metrics, for its stored payload (none for supervised jobs). */
/**
 * Token accuracy and the validation batch's metrics, when the trainer reported them
 * (trainer/PROTOCOL.md § Metrics): OpenAI's `metrics` events and results files read them.
 */
const OPTIONAL_METRICS = ['tokenAccuracy', 'validLoss', 'validTokenAccuracy'] as const;

function optionalMetrics(event: Partial<Record<(typeof OPTIONAL_METRICS)[number], number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of OPTIONAL_METRICS) if (typeof event[name] === 'number') out[name] = event[name];
  return out;
}

function preferenceMetrics(event: Partial<Record<(typeof PREFERENCE_METRICS)[number], number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of PREFERENCE_METRICS) if (typeof event[name] === 'number') out[name] = event[name];
  return out;
}
