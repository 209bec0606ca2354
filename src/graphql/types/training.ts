/**
 * The fine-tuning part of the GraphQL schema: its enums, inputs, object types, queries,
 * mutations and subscriptions. Over 400 lines because these are declarations of one
 * surface — each type's fields next to the types they use; the logic is in src/training.
 */
import { builder, principalOf } from '../builder.js';
import { ErrorInterface, payload } from '../errors.js';
import { listingConnection } from '../connection.js';
import { trainingEventListing, trainingJobListing } from '../../training/listings.js';
import type { ListedError } from '../errors.js';
import { ModelRef } from './model.js';
import { DatasetRef } from './dataset.js';
import type { TrainingEvent, TrainingJob } from '../../db/tables/training.js';
import type { Estimate, StartFineTuneRequest } from '../../training/start-job.js';
import type { ResolvedHyperparameters } from '../../training/hyperparameters.js';
import type { JobCheckpoint } from '../../training/checkpoints.js';
import { STOP_WAIT_MS } from '../../training/job-control.js';
import type { LossCurve } from '../../training/loss-curve.js';
import { HyperparametersInput, HyperparametersRef } from './hyperparameters.js';

export const TrainingStatusEnum = builder.enumType('TrainingStatus', {
  values: {
    VALIDATING: { description: 'Waiting for a dataset to finish validation.' },
    QUEUED: { description: 'Waiting for a worker.' },
    RUNNING: { description: 'A worker is training it.' },
    PAUSED: {
      description: 'Paused by you at a checkpoint; it keeps its reservation. `resumeTraining` queues it again to continue from there.',
    },
    SUCCEEDED: { description: 'Finished; `fineTunedModel` is ready to deploy.' },
    FAILED: { description: 'Stopped with an error; see `error`.' },
    CANCELLED: { description: 'Cancelled by you.' },
  } as const,
});

const FineTuneMethodEnum = builder.enumType('FineTuneMethod', {
  values: {
    LORA: { description: 'Supervised: low-rank adapters (default).' },
    FULL: { description: 'Supervised: all weights.' },
    DPO: {
      description:
        'Preference tuning (direct preference optimisation) on a preference dataset; trains LoRA adapters or all weights (`trainable`).',
    },
  } as const,
});

const TrainableWeightsEnum = builder.enumType('TrainableWeights', {
  description: 'The weights a job trains.',
  values: { LORA: { description: 'Low-rank adapters on frozen weights.' }, FULL: { description: 'All weights.' } } as const,
});

export const StartFineTuneInput = builder.inputType('StartFineTuneInput', {
  fields: (t) => ({
    baseModel: t.id({ required: true }),
    trainingDataset: t.id({ required: true }),
    validationDataset: t.id(),
    method: t.field({
      type: FineTuneMethodEnum,
      description: 'LORA (default), FULL, or DPO (needs a preference dataset; supervised methods refuse one).',
    }),
    trainable: t.field({
      type: TrainableWeightsEnum,
      description: 'DPO only: train LoRA adapters (default) or all weights. Supervised methods train their own weights.',
    }),
    hyperparameters: t.field({ type: HyperparametersInput }),
    suffix: t.string({ description: 'Up to 64 characters of a-z, 0-9 and "-", used in the fine-tuned model id.' }),
    webhookUrl: t.string({ description: 'Called with training.* events for this job, signed with your account webhook secret.' }),
    idempotencyKey: t.string({ description: 'Retrying with the same key returns the same job and reserves once.' }),
    priority: t.int({ description: 'Higher runs first (−100…100, default 0).' }),
  }),
});

const JobErrorRef = builder.objectRef<{ code: string; message: string }>('TrainingJobError').implement({
  fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
});

const JobProgressRef = builder.objectRef<TrainingJob>('TrainingJobProgress').implement({
  fields: (t) => ({
    step: t.exposeInt('step'),
    totalSteps: t.exposeInt('total_steps', { nullable: true }),
    epoch: t.exposeFloat('epoch', { nullable: true }),
    percent: t.float({ nullable: true, resolve: (j) => (j.total_steps ? Math.min(100, (100 * j.step) / j.total_steps) : null) }),
    tokensPerSecond: t.exposeFloat('tokens_per_second', { nullable: true }),
    etaSeconds: t.exposeFloat('eta_seconds', { nullable: true }),
  }),
});

const JobMetricsRef = builder.objectRef<TrainingJob>('TrainingMetrics').implement({
  fields: (t) => ({
    loss: t.exposeFloat('loss', { nullable: true, description: 'Training loss of the latest step.' }),
    minLoss: t.exposeFloat('min_loss', { nullable: true }),
    evalLoss: t.exposeFloat('eval_loss', { nullable: true, description: 'Latest loss on the validation dataset.' }),
    rewardAccuracy: t.float({
      nullable: true,
      description: 'DPO: reward accuracy of the latest step (null for supervised jobs).',
      resolve: (j) => j.reward_metrics?.rewardAccuracy ?? null,
    }),
    rewardMargin: t.float({
      nullable: true,
      description: 'DPO: reward margin of the latest step.',
      resolve: (j) => j.reward_metrics?.rewardMargin ?? null,
    }),
  }),
});

const CheckpointMetricsRef = builder.objectRef<JobCheckpoint['metrics']>('TrainingCheckpointMetrics').implement({
  fields: (t) => ({
    trainLoss: t.exposeFloat('trainLoss', { nullable: true, description: 'Training loss of the checkpoint’s step.' }),
    evalLoss: t.exposeFloat('evalLoss', { nullable: true, description: 'Validation loss, when an evaluation ran at that step.' }),
  }),
});

// The server's folder (`path`) is deliberately not a field: clients name a checkpoint by its id.
const CheckpointRef = builder.objectRef<JobCheckpoint>('TrainingCheckpoint').implement({
  description: 'A saved state of the job, named by its step.',
  fields: (t) => ({
    id: t.exposeString('id', { description: '`ckpt-step-<step>`.' }),
    step: t.exposeInt('step'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    metrics: t.expose('metrics', { type: CheckpointMetricsRef }),
  }),
});

const LossCurveRef = builder.objectRef<LossCurve>('TrainingLossCurve').implement({
  description:
    'The stored loss curve as columns: `steps[i]`, `loss[i]`, `learningRate[i]` and `epoch[i]` describe one optimizer step; `evalSteps[j]` and `evalLoss[j]` one validation. Every stored step, in order (nothing sampled).',
  fields: (t) => ({
    steps: t.exposeIntList('steps'),
    loss: t.exposeFloatList('loss'),
    learningRate: t.exposeFloatList('learningRate', { nullable: { list: false, items: true } }),
    epoch: t.exposeFloatList('epoch', { nullable: { list: false, items: true } }),
    evalSteps: t.exposeIntList('evalSteps'),
    evalLoss: t.exposeFloatList('evalLoss'),
  }),
});

interface StepPayload {
  step: number;
  rewardAccuracy?: number;
  rewardMargin?: number;
  chosenReward?: number;
  rejectedReward?: number;
  totalSteps?: number;
  epoch?: number;
  loss?: number;
  learningRate?: number;
  gradNorm?: number;
  tokens?: number;
  tokensPerSecond?: number;
}

const TrainingStepRef = builder.objectRef<TrainingEvent>('TrainingStep').implement({
  description: 'One optimizer step of the loss curve.',
  fields: (t) => ({
    step: t.exposeInt('step'),
    epoch: t.float({ nullable: true, resolve: (e) => (e.payload as unknown as StepPayload).epoch ?? null }),
    loss: t.float({ resolve: (e) => (e.payload as unknown as StepPayload).loss ?? 0 }),
    learningRate: t.float({ nullable: true, resolve: (e) => (e.payload as unknown as StepPayload).learningRate ?? null }),
    gradNorm: t.float({ nullable: true, resolve: (e) => (e.payload as unknown as StepPayload).gradNorm ?? null }),
    tokens: t.float({
      nullable: true,
      description: 'Tokens trained so far.',
      resolve: (e) => (e.payload as unknown as StepPayload).tokens ?? null,
    }),
    tokensPerSecond: t.float({ nullable: true, resolve: (e) => (e.payload as unknown as StepPayload).tokensPerSecond ?? null }),
    rewardAccuracy: t.float({
      nullable: true,
      description: 'DPO: share of the step’s pairs whose preferred answer got the higher reward.',
      resolve: (e) => (e.payload as unknown as StepPayload).rewardAccuracy ?? null,
    }),
    rewardMargin: t.float({
      nullable: true,
      description: 'DPO: mean of chosenReward − rejectedReward.',
      resolve: (e) => (e.payload as unknown as StepPayload).rewardMargin ?? null,
    }),
    chosenReward: t.float({
      nullable: true,
      description: 'DPO: mean β·(log-probability under the trained model − under the reference) of the preferred answers.',
      resolve: (e) => (e.payload as unknown as StepPayload).chosenReward ?? null,
    }),
    rejectedReward: t.float({
      nullable: true,
      description: 'DPO: the same for the non-preferred answers.',
      resolve: (e) => (e.payload as unknown as StepPayload).rejectedReward ?? null,
    }),
    at: t.expose('created_at', { type: 'DateTime' }),
  }),
});

export const TrainingJobRef = builder.objectRef<TrainingJob>('TrainingJob');

builder.node(TrainingJobRef, {
  description: 'A fine-tuning job.',
  id: { resolve: (j) => j.id },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'base_model_id' in value && 'event_seq' in value,
  loadOne: (id, ctx) => (ctx.principal ? ctx.services.training.find(ctx.principal.accountId, id).then((j) => j ?? null) : null),
  fields: (t) => ({
    status: t.field({ type: TrainingStatusEnum, resolve: (j) => j.status }),
    step: t.exposeInt('step'),
    totalSteps: t.exposeInt('total_steps', { nullable: true }),
    loss: t.exposeFloat('loss', { nullable: true }),
    epoch: t.exposeFloat('epoch', { nullable: true }),
    method: t.field({ type: FineTuneMethodEnum, resolve: (j) => j.method }),
    trainable: t.field({ type: TrainableWeightsEnum, description: 'The weights it trains.', resolve: (j) => j.trainable }),
    baseModel: t.field({
      type: ModelRef,
      nullable: true,
      description: 'The root base model (its tokenizer, price and fine-tuned model name), also for continued training.',
      resolve: (j, _a, ctx) => ctx.services.catalog.findModel(principalOf(ctx).accountId, j.base_model_id),
    }),
    parentModel: t.id({
      nullable: true,
      description: 'Continued training: the fine-tuned model or checkpoint (`ft:…:ckpt-step-N`) it started from; null = the base model.',
      resolve: (j) => j.parent_model_id,
    }),
    fineTunedModel: t.field({
      type: ModelRef,
      nullable: true,
      resolve: (j, _a, ctx) =>
        j.fine_tuned_model_id ? ctx.services.catalog.findModel(principalOf(ctx).accountId, j.fine_tuned_model_id) : null,
    }),
    trainingDataset: t.field({
      type: DatasetRef,
      nullable: true,
      resolve: (j, _a, ctx) => ctx.services.datasets.find(principalOf(ctx).accountId, j.training_dataset_id),
    }),
    validationDataset: t.field({
      type: DatasetRef,
      nullable: true,
      resolve: (j, _a, ctx) =>
        j.validation_dataset_id ? ctx.services.datasets.find(principalOf(ctx).accountId, j.validation_dataset_id) : null,
    }),
    hyperparameters: t.field({
      type: HyperparametersRef,
      nullable: true,
      description: 'Null while the job is VALIDATING ("auto" is decided from the dataset).',
      resolve: (j) => (Object.keys(j.hyperparameters).length ? (j.hyperparameters as unknown as ResolvedHyperparameters) : null),
    }),
    suffix: t.exposeString('suffix', { nullable: true }),
    progress: t.field({ type: JobProgressRef, resolve: (j) => j }),
    metrics: t.field({ type: JobMetricsRef, resolve: (j) => j }),
    steps: t.connection({
      type: TrainingStepRef,
      description: 'The loss curve: every step, in order.',
      resolve: (j, args, ctx) =>
        listingConnection(trainingEventListing, args, async (page) => {
          const { events, hasNextPage } = await ctx.services.training.events(principalOf(ctx).accountId, j.id, {
            ...page,
            types: ['step'],
          });
          return { items: events, hasNextPage };
        }),
    }),
    events: t.connection({
      type: TrainingProgressRef,
      description: 'Stored events in order (the event log); `kinds` filters them (default: every kind).',
      args: { kinds: t.arg({ type: [TrainingEventKindEnum] }) },
      resolve: (j, args, ctx) =>
        listingConnection(trainingEventListing, args, async (page) => {
          const { events, hasNextPage } = await ctx.services.training.events(principalOf(ctx).accountId, j.id, {
            ...page,
            types: args.kinds?.length ? args.kinds.map((k) => k.toLowerCase() as TrainingEvent['type']) : undefined,
          });
          return { items: events, hasNextPage };
        }),
    }),
    lossCurve: t.field({
      type: LossCurveRef,
      description: 'Every stored step after `afterStep` (all when absent) as columns: compact enough for a 100,000-step chart.',
      args: { afterStep: t.arg.int() },
      resolve: (j, args, ctx) => ctx.services.training.lossCurve(principalOf(ctx).accountId, j.id, { afterStep: args.afterStep ?? 0 }),
    }),
    checkpoints: t.field({
      type: [CheckpointRef],
      description: 'Its checkpoints that still exist (the newest few), oldest first.',
      resolve: (j, _a, ctx) => ctx.services.training.checkpoints(principalOf(ctx).accountId, j.id),
    }),
    error: t.field({
      type: JobErrorRef,
      nullable: true,
      resolve: (j) => (j.error_code ? { code: j.error_code, message: j.error_message ?? '' } : null),
    }),
    trainedTokens: t.float({ resolve: (j) => Number(j.trained_tokens) }),
    estimatedTokens: t.float({ nullable: true, resolve: (j) => (j.estimated_tokens === null ? null : Number(j.estimated_tokens)) }),
    estimatedCost: t.field({ type: 'USD', nullable: true, resolve: (j) => j.estimated_cost_micros }),
    cost: t.field({ type: 'USD', description: 'What was charged (final once the job has finished).', resolve: (j) => j.cost_micros }),
    attempts: t.exposeInt('attempts', { description: 'Workers that have run it (more than 1 after a lost worker).' }),
    resumedFromStep: t.exposeInt('resumed_from_step', { nullable: true, description: 'The checkpoint the latest attempt resumed from.' }),
    cancelRequested: t.boolean({ resolve: (j) => j.cancel_requested_at !== null }),
    pauseRequested: t.boolean({
      description: 'A pause was asked for and the trainer is finishing its step and checkpointing.',
      resolve: (j) => j.pause_requested_at !== null,
    }),
    createdAt: t.expose('created_at', { type: 'DateTime' }),
    queuedAt: t.expose('queued_at', { type: 'DateTime', nullable: true }),
    startedAt: t.expose('started_at', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finished_at', { type: 'DateTime', nullable: true }),
    updatedAt: t.expose('updated_at', { type: 'DateTime' }),
  }),
});

const TrainingEventKindEnum = builder.enumType('TrainingEventKind', { values: ['STATUS', 'STEP', 'EVAL', 'CHECKPOINT'] as const });

const TrainingProgressRef = builder.objectRef<TrainingEvent>('TrainingProgress').implement({
  description: 'One live event of a job: a training step or a status change.',
  fields: (t) => {
    const p = (e: TrainingEvent) => e.payload as Record<string, unknown>;
    const num = (e: TrainingEvent, k: string) => (typeof p(e)[k] === 'number' ? (p(e)[k] as number) : null);
    return {
      jobId: t.id({ resolve: (e) => e.job_id }),
      kind: t.field({ type: TrainingEventKindEnum, resolve: (e) => e.type.toUpperCase() as 'STATUS' | 'STEP' | 'EVAL' | 'CHECKPOINT' }),
      sequence: t.exposeInt('seq', { description: "Position in the job's event stream." }),
      status: t.field({ type: TrainingStatusEnum, resolve: (e) => e.status }),
      step: t.exposeInt('step'),
      totalSteps: t.int({ nullable: true, resolve: (e) => num(e, 'totalSteps') }),
      loss: t.float({
        nullable: true,
        description: 'Training loss of a STEP; validation loss of an EVAL.',
        resolve: (e) => num(e, 'loss') ?? num(e, 'evalLoss'),
      }),
      epoch: t.float({ nullable: true, resolve: (e) => num(e, 'epoch') }),
      learningRate: t.float({ nullable: true, resolve: (e) => num(e, 'learningRate') }),
      tokens: t.float({ nullable: true, resolve: (e) => num(e, 'tokens') }),
      tokensPerSecond: t.float({ nullable: true, resolve: (e) => num(e, 'tokensPerSecond') }),
      rewardAccuracy: t.float({
        nullable: true,
        description: 'DPO, STEP and EVAL: share of pairs whose preferred answer got the higher reward.',
        resolve: (e) => num(e, 'rewardAccuracy'),
      }),
      rewardMargin: t.float({
        nullable: true,
        description: 'DPO: mean chosenReward − rejectedReward.',
        resolve: (e) => num(e, 'rewardMargin'),
      }),
      chosenReward: t.float({
        nullable: true,
        description: 'DPO: mean β·(log-probability under the trained model − under the reference) of the preferred answers.',
        resolve: (e) => num(e, 'chosenReward'),
      }),
      rejectedReward: t.float({
        nullable: true,
        description: 'DPO: the same for the non-preferred answers.',
        resolve: (e) => num(e, 'rejectedReward'),
      }),
      checkpointId: t.string({
        nullable: true,
        description: 'CHECKPOINT events: the checkpoint saved (`ckpt-step-<step>`).',
        resolve: (e) => (typeof p(e).checkpointId === 'string' ? (p(e).checkpointId as string) : null),
      }),
      error: t.field({
        type: JobErrorRef,
        nullable: true,
        resolve: (e) => (p(e).error as { code: string; message: string } | undefined) ?? null,
      }),
      at: t.expose('created_at', { type: 'DateTime' }),
    };
  },
});

const CostEstimateRef = builder.objectRef<Estimate>('CostEstimate').implement({
  fields: (t) => ({
    billableTokens: t.float({ description: 'Dataset tokens (after truncation) × epochs.', resolve: (e) => Number(e.billableTokens) }),
    epochs: t.exposeInt('epochs'),
    cost: t.field({ type: 'USD', resolve: (e) => e.costMicros }),
    available: t.field({ type: 'USD', resolve: (e) => e.availableMicros }),
    allowedToProceed: t.exposeBoolean('allowedToProceed'),
    examples: t.exposeInt('examples'),
    tokensPerEpoch: t.float({ resolve: (e) => Number(e.tokensPerEpoch) }),
    hyperparameters: t.field({ type: HyperparametersRef, resolve: (e) => e.hyperparameters }),
  }),
});

const StartFineTunePayload = builder.objectRef<{ job?: TrainingJob; errors: ListedError[] }>('StartFineTunePayload').implement({
  fields: (t) => ({
    job: t.field({ type: TrainingJobRef, nullable: true, resolve: (p) => p.job ?? null }),
    errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
  }),
});

/** `{ job, errors }`: what cancelTraining, pauseTraining and resumeTraining answer. */
const jobPayload = (name: string) =>
  builder.objectRef<{ job?: TrainingJob; errors: ListedError[] }>(name).implement({
    fields: (t) => ({
      job: t.field({ type: TrainingJobRef, nullable: true, resolve: (p) => p.job ?? null }),
      errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
    }),
  });

const CancelTrainingPayload = jobPayload('CancelTrainingPayload');
const PauseTrainingPayload = jobPayload('PauseTrainingPayload');
const ResumeTrainingPayload = jobPayload('ResumeTrainingPayload');

/**
 * GraphQL input → the domain request. Top-level nulls mean absent; hyperparameters go as
 * given, for the domain to check (a JSON round trip here once turned a literal `1e400`,
 * which graphql-js reads as Infinity, into null, i.e. "auto").
 */
export function toStartRequest(input: Record<string, unknown>): StartFineTuneRequest {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null && v !== undefined)) as unknown as StartFineTuneRequest;
}

builder.queryFields((t) => ({
  trainingJob: t.field({
    type: TrainingJobRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.training.find(principalOf(ctx).accountId, args.id),
  }),
  trainingJobs: t.connection({
    type: TrainingJobRef,
    description: 'Your jobs, newest first.',
    args: { status: t.arg({ type: TrainingStatusEnum }) },
    resolve: (_root, args, ctx) =>
      listingConnection(trainingJobListing, args, async (page) => {
        const { jobs, hasNextPage } = await ctx.services.training.list(principalOf(ctx).accountId, {
          ...page,
          status: args.status ?? null,
        });
        return { items: jobs, hasNextPage };
      }),
  }),
  estimateFineTuneCost: t.field({
    type: CostEstimateRef,
    description:
      'What a job would cost and whether your available balance covers it. Errors (NOT_FOUND, DATASET_NOT_READY, INVALID_HYPERPARAMETERS…) come as GraphQL errors with extensions.code.',
    args: { input: t.arg({ type: StartFineTuneInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.training.estimate(principalOf(ctx).accountId, toStartRequest(input)),
  }),
}));

builder.mutationFields((t) => ({
  startFineTune: t.field({
    type: StartFineTunePayload,
    description: 'Start a fine-tuning job. Returns at once with the job (QUEUED, or VALIDATING while a dataset is being validated).',
    args: { input: t.arg({ type: StartFineTuneInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      payload(async () => ({ job: await ctx.services.training.start(principalOf(ctx).accountId, toStartRequest(input)) })),
  }),
  cancelTraining: t.field({
    type: CancelTrainingPayload,
    description: 'Cancel a job: a queued one at once, a running one at its next step (waits up to 10 s for CANCELLED).',
    args: { jobId: t.arg.id({ required: true }) },
    resolve: (_root, { jobId }, ctx) =>
      payload(async () => ({ job: await ctx.services.training.cancel(principalOf(ctx).accountId, jobId, { waitMs: STOP_WAIT_MS }) })),
  }),
  pauseTraining: t.field({
    type: PauseTrainingPayload,
    description:
      'Pause a job: a queued one at once; a running one finishes its step and checkpoints (waits up to 10 s for PAUSED; `pauseRequested` until then). It keeps its reservation. Errors: NOT_FOUND, JOB_ALREADY_FINISHED, JOB_NOT_PAUSABLE (still VALIDATING).',
    args: { jobId: t.arg.id({ required: true }) },
    resolve: (_root, { jobId }, ctx) =>
      payload(async () => ({ job: await ctx.services.training.pause(principalOf(ctx).accountId, jobId, { waitMs: STOP_WAIT_MS }) })),
  }),
  resumeTraining: t.field({
    type: ResumeTrainingPayload,
    description:
      'Queue a paused job again; it continues from its checkpoint, no step lost or repeated. A job that is not paused is returned unchanged. Errors: NOT_FOUND, JOB_ALREADY_FINISHED.',
    args: { jobId: t.arg.id({ required: true }) },
    resolve: (_root, { jobId }, ctx) =>
      payload(async () => ({ job: await ctx.services.training.resume(principalOf(ctx).accountId, jobId) })),
  }),
}));

builder.subscriptionType({ authScopes: { authenticated: true } });

builder.subscriptionFields((t) => ({
  trainingProgress: t.field({
    type: TrainingProgressRef,
    description:
      'Replays the stored events after `afterStep` (all when absent), then streams live ones: one per training step and one per status change. Completes after a terminal status.',
    args: { jobId: t.arg.id({ required: true }), afterStep: t.arg.int() },
    subscribe: (_root, args, ctx) =>
      ctx.services.training.progress(principalOf(ctx).accountId, args.jobId, {
        afterStep: args.afterStep ?? null,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      }),
    resolve: (event) => event,
  }),
}));
