/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type ChatMessageInput = {
  content: string;
  /** system, user, assistant or tool */
  role: string;
};

export type DatasetStatus =
  /** It has errors; see `errors`. */
  | 'INVALID'
  /** Valid: it can train a model. */
  | 'READY'
  /** Stored; being checked line by line. */
  | 'VALIDATING';

/** LOADING → READY | FAILED; UNDEPLOYED once undeployed. */
export type DeploymentStatus =
  | 'FAILED'
  | 'LOADING'
  | 'READY'
  | 'UNDEPLOYED';

export type FineTuneMethod =
  /** Preference tuning (direct preference optimisation) on a preference dataset; trains LoRA adapters or all weights (`trainable`). */
  | 'DPO'
  /** Supervised: all weights. */
  | 'FULL'
  /** Supervised: low-rank adapters (default). */
  | 'LORA';

/** STOP: an end-of-text token or a stop sequence; LENGTH: maxTokens or the context ran out. */
export type FinishReason =
  | 'LENGTH'
  | 'STOP';

/** Give either `prompt` (text completion) or `messages` (chat, rendered by the model’s chat template). */
export type GenerateInput = {
  frequencyPenalty?: number | null | undefined;
  /** Default: the rest of the context. */
  maxTokens?: number | null | undefined;
  messages?: Array<ChatMessageInput> | null | undefined;
  /** A model you have deployed, or one of your fine-tuned models or checkpoints (ft:…:ckpt-step-N), loaded on demand. */
  model: string | number;
  presencePenalty?: number | null | undefined;
  prompt?: string | null | undefined;
  /** Same seed, parameters and prompt → the same answer. */
  seed?: number | null | undefined;
  /** Up to 4 sequences; the answer ends before the first one. */
  stop?: Array<string> | null | undefined;
  /** 0–2; 0 = greedy. Default 1. */
  temperature?: number | null | undefined;
  /** Keep the k most likely tokens; 0 = off. */
  topK?: number | null | undefined;
  /** 0–1. Default 1. */
  topP?: number | null | undefined;
};

/** Every field is optional; absent, null or "auto" lets Tuneloop decide (docs/training.md). */
export type HyperparametersInput = {
  /** Packed sequences (rows) per optimizer step; DPO: pairs per step. Range: 1–1024. Auto: clamp(floor(rows / 8), 1, 16) with rows ≈ tokens / maxSeqLength (DPO: rows = pairs, never packed), so an epoch has ≥ 8 steps. */
  batchSize?: number | 'auto' | null | undefined;
  /** Preference tuning: how strongly the trained model is held to the reference model (the starting weights). DPO only. Range: (0, 2]. Auto: 0.1. */
  beta?: number | 'auto' | null | undefined;
  /** Checkpoint every N steps (and at every epoch end); a job resumes from its newest checkpoint. Range: 1–1,000,000. Auto: 50. */
  checkpointEvery?: number | 'auto' | null | undefined;
  /** Stop after this many evaluations without a new best validation loss. Range: 1–1000 (needs a validation dataset). Auto: none. */
  earlyStoppingPatience?: number | 'auto' | null | undefined;
  /** Passes over the training dataset. Range: 1–100. Auto: enough passes to see the model's targetExamples: clamp(ceil(targetExamples / examples), minEpochs, maxEpochs). */
  epochs?: number | 'auto' | null | undefined;
  /** Also measure one validation batch every N steps (the `validLoss` of step events); 0 = never. Range: 0–1,000,000 (needs a validation dataset). Auto: about 20 times per run (⌈steps / 20⌉) when there is a validation dataset. */
  evalBatchEvery?: number | 'auto' | null | undefined;
  /** Also evaluate on the validation dataset every N steps (always at each epoch end). Range: 1–1,000,000 (needs a validation dataset). Auto: none (evaluation at each epoch end only). */
  evalEvery?: number | 'auto' | null | undefined;
  /** Recompute each layer during the backward pass: less memory, about 30 % more compute. Range: true, false. Auto: false. */
  gradientCheckpointing?: boolean | 'auto' | null | undefined;
  /** Peak learning rate (after warmup). Range: (0, 1]. Auto: the model's rate for the trained weights (2e-4 LoRA, 2e-5 full for an imported model); DPO: a quarter of it for LoRA, a twentieth for full (5e-5, 1e-6 for an imported model); times learningRateMultiplier when set. */
  learningRate?: number | 'auto' | null | undefined;
  /** Scales the "auto" learning rate (OpenAI's `learning_rate_multiplier`); not together with an explicit learningRate. Range: (0, 100]. Auto: none (the auto learning rate as it is, i.e. × 1). */
  learningRateMultiplier?: number | 'auto' | null | undefined;
  /** LoRA scaling: the update is multiplied by alpha / rank. LORA only. Range: (0, 10,000]. Auto: 2 × loraRank. */
  loraAlpha?: number | 'auto' | null | undefined;
  /** Dropout on the adapter input. LORA only. Range: [0, 1). Auto: 0.05. */
  loraDropout?: number | 'auto' | null | undefined;
  /** Rank of the LoRA adapters. LORA only. Range: 1–min(1024, hidden size). Auto: the model's trainingDefaults.loraRank (8 for an imported model, 32 for the tiny one), at most its hidden size. */
  loraRank?: number | 'auto' | null | undefined;
  /** The linear layers that get adapters; ["all-linear"] = all seven. LORA only. Range: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, all-linear. Auto: the model's trainingDefaults.loraTargetModules (q_proj, k_proj, v_proj, o_proj for an imported model; all-linear for the tiny one). */
  loraTargetModules?: string[] | 'auto' | null | undefined;
  /** How the learning rate decays after warmup (to 0 at the last step). Range: cosine, linear, constant. Auto: cosine. */
  lrScheduler?: string | null | undefined;
  /** Gradient-norm clipping; 0 = no clipping. Range: [0, 1000]. Auto: 1. */
  maxGradNorm?: number | 'auto' | null | undefined;
  /** Examples are truncated to this many tokens (the dataset shows a warning). Range: 16–the model's context. Auto: the longest example rounded up to a power of two (≥ 64), capped at the context. */
  maxSeqLength?: number | 'auto' | null | undefined;
  /** Rows per forward pass; gradients are accumulated up to batchSize. Lower it when a job runs out of memory. Range: 1–batchSize. Auto: none: batchSize, split over the GPUs, without accumulation. */
  microBatchSize?: number | 'auto' | null | undefined;
  /** Several examples per sequence, attention kept within each. Range: true, false. Auto: true. */
  packing?: boolean | 'auto' | null | undefined;
  /** Shuffling, LoRA initialisation and dropout. Range: 0–2³¹−1. Auto: 42. */
  seed?: number | 'auto' | null | undefined;
  /** Linear warmup over this share of the steps; not together with warmupSteps. Range: [0, 1). Auto: 0.03 (3 % of the steps) unless warmupSteps is set. */
  warmupRatio?: number | 'auto' | null | undefined;
  /** Linear warmup over this many steps. Range: 0–1,000,000. Auto: none (warmupRatio applies). */
  warmupSteps?: number | 'auto' | null | undefined;
  /** AdamW decoupled weight decay (matrices only). Range: [0, 1]. Auto: 0. */
  weightDecay?: number | 'auto' | null | undefined;
};

export type StartFineTuneInput = {
  baseModel: string | number;
  hyperparameters?: HyperparametersInput | null | undefined;
  /** Retrying with the same key returns the same job and reserves once. */
  idempotencyKey?: string | null | undefined;
  /** LORA (default), FULL, or DPO (needs a preference dataset; supervised methods refuse one). */
  method?: FineTuneMethod | null | undefined;
  /** Higher runs first (−100…100, default 0). */
  priority?: number | null | undefined;
  /** Up to 64 characters of a-z, 0-9 and "-", used in the fine-tuned model id. */
  suffix?: string | null | undefined;
  /** DPO only: train LoRA adapters (default) or all weights. Supervised methods train their own weights. */
  trainable?: TrainableWeights | null | undefined;
  trainingDataset: string | number;
  validationDataset?: string | number | null | undefined;
  /** Called with training.* events for this job, signed with your account webhook secret. */
  webhookUrl?: string | null | undefined;
};

/** The weights a job trains. */
export type TrainableWeights =
  /** All weights. */
  | 'FULL'
  /** Low-rank adapters on frozen weights. */
  | 'LORA';

export type TrainingEventKind =
  | 'CHECKPOINT'
  | 'EVAL'
  | 'STATUS'
  | 'STEP';

export type TrainingStatus =
  /** Cancelled by you. */
  | 'CANCELLED'
  /** Stopped with an error; see `error`. */
  | 'FAILED'
  /** Paused by you at a checkpoint; it keeps its reservation. `resumeTraining` queues it again to continue from there. */
  | 'PAUSED'
  /** Waiting for a worker. */
  | 'QUEUED'
  /** A worker is training it. */
  | 'RUNNING'
  /** Finished; `fineTunedModel` is ready to deploy. */
  | 'SUCCEEDED'
  /** Waiting for a dataset to finish validation. */
  | 'VALIDATING';

/** PENDING: queued or waiting for a retry. SUCCEEDED: a 2xx answer. FAILED: gave up (attempts used up, 410 Gone, endpoint disabled). */
export type WebhookDeliveryStatus =
  | 'FAILED'
  | 'PENDING'
  | 'SUCCEEDED';

/** GONE: the endpoint answered 410 Gone. DISABLED: its owner disabled it. */
export type WebhookEndpointDisabledReason =
  | 'DISABLED'
  | 'GONE';

export type SignInCheckQueryVariables = Exact<{ [key: string]: never; }>;


export type SignInCheckQuery = { account: { id: string, name: string } };

export type AccountPageQueryVariables = Exact<{
  ledgerAfter?: string | null | undefined;
}>;


export type AccountPageQuery = { account: { id: string, name: string, balance: string, reserved: string, available: string, createdAt: string, ledger: { edges: Array<{ node: { id: string, type: string, amount: string, hold: string, description: string, referenceId: string | null, createdAt: string } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } }, webhookEndpoints: { edges: Array<{ node: { id: string, url: string, description: string, events: Array<string>, enabled: boolean, disabledReason: WebhookEndpointDisabledReason | null, deliveries: { edges: Array<{ node: { id: string, eventType: string, status: WebhookDeliveryStatus, attemptCount: number, lastStatusCode: number | null, lastError: string | null, createdAt: string, deliveredAt: string | null } }> } } }> } };

export type BalanceQueryVariables = Exact<{ [key: string]: never; }>;


export type BalanceQuery = { account: { id: string, balance: string, available: string } };

export type DatasetListQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
}>;


export type DatasetListQuery = { datasets: { edges: Array<{ node: { id: string, filename: string | null, status: DatasetStatus, format: string | null, examples: number | null, bytes: number, errorCount: number, createdAt: string } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type DatasetPageQueryVariables = Exact<{
  id: string | number;
}>;


export type DatasetPageQuery = { dataset: { id: string, filename: string | null, status: DatasetStatus, format: string | null, bytes: number, sha256: string, source: string, examples: number | null, createdAt: string, validatedAt: string | null, tokenizerModel: string | null, errorCount: number, warningCount: number, errors: Array<{ line: number | null, code: string, field: string | null, message: string }>, warnings: Array<{ line: number | null, code: string, field: string | null, message: string }>, stats: { examples: number, lines: number, tokens: { total: number, mean: number, max: number, trainable: number, lengthHistogram: Array<{ from: number, to: number, count: number }> } | null } | null } | null };

export type ModelListQueryVariables = Exact<{
  after?: string | null | undefined;
}>;


export type ModelListQuery = { models: { edges: Array<{ node: { id: string, isBaseModel: boolean, fineTunable: boolean, architecture: string, parameterCount: number, contextLength: number, pricePerMillionTrainingTokens: string, pricePerMillionInferenceTokens: string, createdAt: string, baseModel: { id: string } | null } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type DeploymentListQueryVariables = Exact<{ [key: string]: never; }>;


export type DeploymentListQuery = { deployments: Array<{ id: string, modelId: string, status: DeploymentStatus, error: string | null, executionProvider: string | null, createdAt: string }> };

export type DeploymentStatusQueryVariables = Exact<{
  id: string | number;
}>;


export type DeploymentStatusQuery = { deployment: { id: string, modelId: string, status: DeploymentStatus, error: string | null } | null };

export type DeployMutationVariables = Exact<{
  modelId: string | number;
}>;


export type DeployMutation = { deployModel: { deployment: { id: string, modelId: string, status: DeploymentStatus } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type ChatStreamSubscriptionVariables = Exact<{
  input: GenerateInput;
}>;


export type ChatStreamSubscription = { generateStream: { id: string, text: string, done: boolean, finishReason: FinishReason | null, cost: string | null, usage: { promptTokens: number, completionTokens: number, totalTokens: number } | null } };

export type JobRowFragment = { id: string, status: TrainingStatus, method: FineTuneMethod, suffix: string | null, step: number, totalSteps: number | null, loss: number | null, cost: string, estimatedCost: string | null, createdAt: string, baseModel: { id: string } | null, progress: { percent: number | null } };

export type JobsQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
}>;


export type JobsQuery = { trainingJobs: { edges: Array<{ node: { id: string, status: TrainingStatus, method: FineTuneMethod, suffix: string | null, step: number, totalSteps: number | null, loss: number | null, cost: string, estimatedCost: string | null, createdAt: string, baseModel: { id: string } | null, progress: { percent: number | null } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type JobQueryVariables = Exact<{
  id: string | number;
}>;


export type JobQuery = { trainingJob: { epoch: number | null, trainedTokens: number, cancelRequested: boolean, pauseRequested: boolean, startedAt: string | null, finishedAt: string | null, attempts: number, resumedFromStep: number | null, trainable: TrainableWeights, parentModel: string | null, id: string, status: TrainingStatus, method: FineTuneMethod, suffix: string | null, step: number, totalSteps: number | null, loss: number | null, cost: string, estimatedCost: string | null, createdAt: string, error: { code: string, message: string } | null, progress: { step: number, totalSteps: number | null, percent: number | null, epoch: number | null, tokensPerSecond: number | null, etaSeconds: number | null }, metrics: { loss: number | null, minLoss: number | null, evalLoss: number | null, rewardAccuracy: number | null, rewardMargin: number | null }, hyperparameters: { epochs: number, batchSize: number, learningRate: number, lrScheduler: string, maxSeqLength: number, loraRank: number | null, loraAlpha: number | null, checkpointEvery: number, beta: number | null } | null, trainingDataset: { id: string, filename: string | null } | null, validationDataset: { id: string, filename: string | null } | null, fineTunedModel: { id: string } | null, checkpoints: Array<{ step: number, createdAt: string }>, baseModel: { id: string } | null } | null };

export type JobCurveQueryVariables = Exact<{
  id: string | number;
  afterStep?: number | null | undefined;
}>;


export type JobCurveQuery = { trainingJob: { id: string, status: TrainingStatus, totalSteps: number | null, lossCurve: { steps: Array<number>, loss: Array<number>, learningRate: Array<number | null>, epoch: Array<number | null>, evalSteps: Array<number>, evalLoss: Array<number> } } | null };

export type JobProgressSubscriptionVariables = Exact<{
  jobId: string | number;
  afterStep?: number | null | undefined;
}>;


export type JobProgressSubscription = { trainingProgress: { kind: TrainingEventKind, status: TrainingStatus, step: number, totalSteps: number | null, loss: number | null, learningRate: number | null, epoch: number | null, tokensPerSecond: number | null, at: string } };

export type NewJobOptionsQueryVariables = Exact<{ [key: string]: never; }>;


export type NewJobOptionsQuery = { fineTunableModels: Array<{ id: string, contextLength: number, pricePerMillionTrainingTokens: string }>, datasets: { edges: Array<{ node: { id: string, filename: string | null, examples: number | null, createdAt: string } }> }, account: { id: string, balance: string, available: string } };

export type EstimateQueryVariables = Exact<{
  input: StartFineTuneInput;
}>;


export type EstimateQuery = { estimateFineTuneCost: { billableTokens: number, epochs: number, examples: number, cost: string, available: string, allowedToProceed: boolean, hyperparameters: { epochs: number, batchSize: number, learningRate: number, loraRank: number | null, loraAlpha: number | null, maxSeqLength: number } } };

export type StartJobMutationVariables = Exact<{
  input: StartFineTuneInput;
}>;


export type StartJobMutation = { startFineTune: { job: { id: string, status: TrainingStatus } | null, errors: Array<
      | { code: string, message: string }
      | { required: string, available: string, code: string, message: string }
      | { field: string, code: string, message: string }
      | { code: string, message: string }
    > } };

export type CancelJobMutationVariables = Exact<{
  jobId: string | number;
}>;


export type CancelJobMutation = { cancelTraining: { job: { id: string, status: TrainingStatus } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type PauseJobMutationVariables = Exact<{
  jobId: string | number;
}>;


export type PauseJobMutation = { pauseTraining: { job: { id: string, status: TrainingStatus, pauseRequested: boolean } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type ResumeJobMutationVariables = Exact<{
  jobId: string | number;
}>;


export type ResumeJobMutation = { resumeTraining: { job: { id: string, status: TrainingStatus } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type JobEventsQueryVariables = Exact<{
  id: string | number;
}>;


export type JobEventsQuery = { trainingJob: { id: string, events: { edges: Array<{ node: { kind: TrainingEventKind, status: TrainingStatus, step: number, loss: number | null, at: string, error: { code: string, message: string } | null } }> } } | null };

export type JobRewardsQueryVariables = Exact<{
  id: string | number;
  after?: string | null | undefined;
}>;


export type JobRewardsQuery = { trainingJob: { id: string, steps: { edges: Array<{ node: { step: number, rewardAccuracy: number | null, rewardMargin: number | null } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } } | null };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const JobRowFragmentDoc = new TypedDocumentString(`
    fragment JobRow on TrainingJob {
  id
  status
  method
  suffix
  step
  totalSteps
  loss
  cost
  estimatedCost
  createdAt
  baseModel {
    id
  }
  progress {
    percent
  }
}
    `, {"fragmentName":"JobRow"}) as unknown as TypedDocumentString<JobRowFragment, unknown>;
export const SignInCheckDocument = new TypedDocumentString(`
    query SignInCheck {
  account {
    id
    name
  }
}
    `) as unknown as TypedDocumentString<SignInCheckQuery, SignInCheckQueryVariables>;
export const AccountPageDocument = new TypedDocumentString(`
    query AccountPage($ledgerAfter: String) {
  account {
    id
    name
    balance
    reserved
    available
    createdAt
    ledger(first: 50, after: $ledgerAfter) {
      edges {
        node {
          id
          type
          amount
          hold
          description
          referenceId
          createdAt
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
  webhookEndpoints(first: 50) {
    edges {
      node {
        id
        url
        description
        events
        enabled
        disabledReason
        deliveries(first: 5) {
          edges {
            node {
              id
              eventType
              status
              attemptCount
              lastStatusCode
              lastError
              createdAt
              deliveredAt
            }
          }
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<AccountPageQuery, AccountPageQueryVariables>;
export const BalanceDocument = new TypedDocumentString(`
    query Balance {
  account {
    id
    balance
    available
  }
}
    `) as unknown as TypedDocumentString<BalanceQuery, BalanceQueryVariables>;
export const DatasetListDocument = new TypedDocumentString(`
    query DatasetList($first: Int!, $after: String) {
  datasets(first: $first, after: $after) {
    edges {
      node {
        id
        filename
        status
        format
        examples
        bytes
        errorCount
        createdAt
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<DatasetListQuery, DatasetListQueryVariables>;
export const DatasetPageDocument = new TypedDocumentString(`
    query DatasetPage($id: ID!) {
  dataset(id: $id) {
    id
    filename
    status
    format
    bytes
    sha256
    source
    examples
    createdAt
    validatedAt
    tokenizerModel
    errorCount
    errors {
      line
      code
      field
      message
    }
    warningCount
    warnings {
      line
      code
      field
      message
    }
    stats {
      examples
      lines
      tokens {
        total
        mean
        max
        trainable
        lengthHistogram(buckets: 20) {
          from
          to
          count
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<DatasetPageQuery, DatasetPageQueryVariables>;
export const ModelListDocument = new TypedDocumentString(`
    query ModelList($after: String) {
  models(first: 100, after: $after) {
    edges {
      node {
        id
        isBaseModel
        fineTunable
        architecture
        parameterCount
        contextLength
        pricePerMillionTrainingTokens
        pricePerMillionInferenceTokens
        createdAt
        baseModel {
          id
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<ModelListQuery, ModelListQueryVariables>;
export const DeploymentListDocument = new TypedDocumentString(`
    query DeploymentList {
  deployments {
    id
    modelId
    status
    error
    executionProvider
    createdAt
  }
}
    `) as unknown as TypedDocumentString<DeploymentListQuery, DeploymentListQueryVariables>;
export const DeploymentStatusDocument = new TypedDocumentString(`
    query DeploymentStatus($id: ID!) {
  deployment(id: $id) {
    id
    modelId
    status
    error
  }
}
    `) as unknown as TypedDocumentString<DeploymentStatusQuery, DeploymentStatusQueryVariables>;
export const DeployDocument = new TypedDocumentString(`
    mutation Deploy($modelId: ID!) {
  deployModel(modelId: $modelId) {
    deployment {
      id
      modelId
      status
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<DeployMutation, DeployMutationVariables>;
export const ChatStreamDocument = new TypedDocumentString(`
    subscription ChatStream($input: GenerateInput!) {
  generateStream(input: $input) {
    id
    text
    done
    finishReason
    cost
    usage {
      promptTokens
      completionTokens
      totalTokens
    }
  }
}
    `) as unknown as TypedDocumentString<ChatStreamSubscription, ChatStreamSubscriptionVariables>;
export const JobsDocument = new TypedDocumentString(`
    query Jobs($first: Int!, $after: String) {
  trainingJobs(first: $first, after: $after) {
    edges {
      node {
        ...JobRow
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment JobRow on TrainingJob {
  id
  status
  method
  suffix
  step
  totalSteps
  loss
  cost
  estimatedCost
  createdAt
  baseModel {
    id
  }
  progress {
    percent
  }
}`) as unknown as TypedDocumentString<JobsQuery, JobsQueryVariables>;
export const JobDocument = new TypedDocumentString(`
    query Job($id: ID!) {
  trainingJob(id: $id) {
    ...JobRow
    epoch
    trainedTokens
    cancelRequested
    pauseRequested
    startedAt
    finishedAt
    attempts
    resumedFromStep
    error {
      code
      message
    }
    progress {
      step
      totalSteps
      percent
      epoch
      tokensPerSecond
      etaSeconds
    }
    trainable
    parentModel
    metrics {
      loss
      minLoss
      evalLoss
      rewardAccuracy
      rewardMargin
    }
    hyperparameters {
      epochs
      batchSize
      learningRate
      lrScheduler
      maxSeqLength
      loraRank
      loraAlpha
      checkpointEvery
      beta
    }
    trainingDataset {
      id
      filename
    }
    validationDataset {
      id
      filename
    }
    fineTunedModel {
      id
    }
    checkpoints {
      step
      createdAt
    }
  }
}
    fragment JobRow on TrainingJob {
  id
  status
  method
  suffix
  step
  totalSteps
  loss
  cost
  estimatedCost
  createdAt
  baseModel {
    id
  }
  progress {
    percent
  }
}`) as unknown as TypedDocumentString<JobQuery, JobQueryVariables>;
export const JobCurveDocument = new TypedDocumentString(`
    query JobCurve($id: ID!, $afterStep: Int) {
  trainingJob(id: $id) {
    id
    status
    totalSteps
    lossCurve(afterStep: $afterStep) {
      steps
      loss
      learningRate
      epoch
      evalSteps
      evalLoss
    }
  }
}
    `) as unknown as TypedDocumentString<JobCurveQuery, JobCurveQueryVariables>;
export const JobProgressDocument = new TypedDocumentString(`
    subscription JobProgress($jobId: ID!, $afterStep: Int) {
  trainingProgress(jobId: $jobId, afterStep: $afterStep) {
    kind
    status
    step
    totalSteps
    loss
    learningRate
    epoch
    tokensPerSecond
    at
  }
}
    `) as unknown as TypedDocumentString<JobProgressSubscription, JobProgressSubscriptionVariables>;
export const NewJobOptionsDocument = new TypedDocumentString(`
    query NewJobOptions {
  fineTunableModels {
    id
    contextLength
    pricePerMillionTrainingTokens
  }
  datasets(first: 100, status: READY) {
    edges {
      node {
        id
        filename
        examples
        createdAt
      }
    }
  }
  account {
    id
    balance
    available
  }
}
    `) as unknown as TypedDocumentString<NewJobOptionsQuery, NewJobOptionsQueryVariables>;
export const EstimateDocument = new TypedDocumentString(`
    query Estimate($input: StartFineTuneInput!) {
  estimateFineTuneCost(input: $input) {
    billableTokens
    epochs
    examples
    cost
    available
    allowedToProceed
    hyperparameters {
      epochs
      batchSize
      learningRate
      loraRank
      loraAlpha
      maxSeqLength
    }
  }
}
    `) as unknown as TypedDocumentString<EstimateQuery, EstimateQueryVariables>;
export const StartJobDocument = new TypedDocumentString(`
    mutation StartJob($input: StartFineTuneInput!) {
  startFineTune(input: $input) {
    job {
      id
      status
    }
    errors {
      code
      message
      ... on InvalidInputError {
        field
      }
      ... on InsufficientBalanceError {
        required
        available
      }
    }
  }
}
    `) as unknown as TypedDocumentString<StartJobMutation, StartJobMutationVariables>;
export const CancelJobDocument = new TypedDocumentString(`
    mutation CancelJob($jobId: ID!) {
  cancelTraining(jobId: $jobId) {
    job {
      id
      status
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<CancelJobMutation, CancelJobMutationVariables>;
export const PauseJobDocument = new TypedDocumentString(`
    mutation PauseJob($jobId: ID!) {
  pauseTraining(jobId: $jobId) {
    job {
      id
      status
      pauseRequested
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<PauseJobMutation, PauseJobMutationVariables>;
export const ResumeJobDocument = new TypedDocumentString(`
    mutation ResumeJob($jobId: ID!) {
  resumeTraining(jobId: $jobId) {
    job {
      id
      status
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ResumeJobMutation, ResumeJobMutationVariables>;
export const JobEventsDocument = new TypedDocumentString(`
    query JobEvents($id: ID!) {
  trainingJob(id: $id) {
    id
    events(first: 200, kinds: [STATUS, CHECKPOINT, EVAL]) {
      edges {
        node {
          kind
          status
          step
          loss
          at
          error {
            code
            message
          }
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<JobEventsQuery, JobEventsQueryVariables>;
export const JobRewardsDocument = new TypedDocumentString(`
    query JobRewards($id: ID!, $after: String) {
  trainingJob(id: $id) {
    id
    steps(first: 1000, after: $after) {
      edges {
        node {
          step
          rewardAccuracy
          rewardMargin
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
}
    `) as unknown as TypedDocumentString<JobRewardsQuery, JobRewardsQueryVariables>;