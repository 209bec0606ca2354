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

export type CreateDatasetFromPathInput = {
  model?: string | number | null | undefined;
  /** An absolute path on the server, inside a root the operator allowed (TUNELOOP_DATASET_ROOTS). */
  path: string;
};

export type CreateDatasetFromUrlInput = {
  model?: string | number | null | undefined;
  /** An http(s) URL of a JSONL file. */
  url: string;
};

export type CreateWebhookEndpointInput = {
  description?: string | null | undefined;
  /** Event types to receive (see webhookEventTypes); default: every status event, no checkpoints. */
  events?: Array<string> | null | undefined;
  /** TUNELOOP (default) or OPENAI: OpenAI's fine-tuning event names and body. Set at creation. */
  format?: WebhookFormat | null | undefined;
  /** An http(s) URL on a public address. */
  url: string;
};

export type DatasetStatus =
  /** It has errors; see `errors`. */
  | 'INVALID'
  /** Valid: it can train a model. */
  | 'READY'
  /** Stored; being checked line by line. */
  | 'VALIDATING';

export type DeleteWebhookEndpointInput = {
  id: string | number;
};

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

/** How a deployment serves the weights: NONE (float32 as trained), INT8 or INT4 (block-quantized weights: smaller and faster, slightly less exact; docs/inference.md). */
export type Quantization =
  | 'INT4'
  | 'INT8'
  | 'NONE';

export type RedeliverWebhookInput = {
  deliveryId: string | number;
};

export type RotateWebhookEndpointSecretInput = {
  id: string | number;
};

export type SetModelDefaultQuantizationInput = {
  modelId: string | number;
  quantization: Quantization;
};

export type SetModelPricesInput = {
  modelId: string | number;
  pricePerMillionInferenceTokens?: string | null | undefined;
  pricePerMillionTrainingTokens?: string | null | undefined;
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

export type TopUpAccountInput = {
  accountId: string | number;
  /** A positive USD amount. */
  amount: string;
  description?: string | null | undefined;
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

export type UpdateWebhookEndpointInput = {
  description?: string | null | undefined;
  /** false stops deliveries (queued ones fail); true re-enables, also after a 410. */
  enabled?: boolean | null | undefined;
  events?: Array<string> | null | undefined;
  id: string | number;
  url?: string | null | undefined;
};

export type UploadDatasetInput = {
  /** The JSONL file (GraphQL multipart request spec). */
  file: File;
  /** Count tokens with this model's tokenizer and template (default: the first fine-tunable base model). */
  model?: string | number | null | undefined;
};

/** PENDING: queued or waiting for a retry. SUCCEEDED: a 2xx answer. FAILED: gave up (attempts used up, 410 Gone, endpoint disabled). */
export type WebhookDeliveryStatus =
  | 'FAILED'
  | 'PENDING'
  | 'SUCCEEDED';

/** GONE: the endpoint answered 410 Gone. DISABLED: its owner disabled it. */
export type WebhookEndpointDisabledReason =
  | 'DISABLED'
  | 'GONE';

/** The body and event names an endpoint receives (docs/webhooks.md). */
export type WebhookFormat =
  /** OpenAI's fine-tuning events (fine_tuning.job.succeeded|failed|cancelled) and body, verified by the openai SDK's webhooks.unwrap(). */
  | 'OPENAI'
  /** Our event names (training.completed, …) and body. */
  | 'TUNELOOP';

export type AccountQueryVariables = Exact<{ [key: string]: never; }>;


export type AccountQuery = { account: { id: string, name: string, balance: string, reserved: string, available: string, ledger: { edges: Array<{ node: { id: string, type: string, amount: string, hold: string, referenceId: string | null } }> } } };

export type TopUpAccountMutationVariables = Exact<{
  input: TopUpAccountInput;
}>;


export type TopUpAccountMutation = { topUpAccount: { account: { id: string, balance: string } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type FineTunableModelsQueryVariables = Exact<{ [key: string]: never; }>;


export type FineTunableModelsQuery = { fineTunableModels: Array<{ id: string, fineTunable: boolean, architecture: string, contextLength: number, pricePerMillionTrainingTokens: string }> };

export type ModelsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  fineTunable?: boolean | null | undefined;
}>;


export type ModelsQuery = { models: { edges: Array<{ cursor: string, node: { id: string, fineTunable: boolean } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type ModelByIdQueryVariables = Exact<{
  id: string | number;
}>;


export type ModelByIdQuery = { model: { id: string, fineTunable: boolean } | null };

export type NodeByIdQueryVariables = Exact<{
  id: string | number;
}>;


export type NodeByIdQuery = { node:
    | { __typename: 'Account', id: string }
    | { __typename: 'Dataset', id: string }
    | { __typename: 'Deployment', id: string }
    | { __typename: 'Model', id: string }
    | { __typename: 'TrainingJob', id: string }
    | { __typename: 'WebhookEndpoint', id: string }
   | null };

export type SetModelPricesMutationVariables = Exact<{
  input: SetModelPricesInput;
}>;


export type SetModelPricesMutation = { setModelPrices: { model: { id: string, pricePerMillionTrainingTokens: string, pricePerMillionInferenceTokens: string } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type SetModelDefaultQuantizationMutationVariables = Exact<{
  input: SetModelDefaultQuantizationInput;
}>;


export type SetModelDefaultQuantizationMutation = { setModelDefaultQuantization: { model: { id: string, defaultQuantization: Quantization } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type DatasetDetailFragment = { id: string, status: DatasetStatus, filename: string | null, format: string | null, examples: number | null, bytes: number, sha256: string, source: string, tokenizerModel: string | null, errorCount: number, warningCount: number, errors: Array<{ line: number | null, code: string, field: string | null, message: string }>, warnings: Array<{ line: number | null, code: string, field: string | null, message: string }>, stats: { examples: number, lines: number, messagesPerRole: { system: number, user: number, assistant: number, tool: number } | null, tokens: { total: number, mean: number, max: number, trainable: number } | null } | null };

export type UploadDatasetDetailMutationVariables = Exact<{
  input: UploadDatasetInput;
}>;


export type UploadDatasetDetailMutation = { uploadDataset: { dataset: { id: string, status: DatasetStatus, filename: string | null, format: string | null, examples: number | null, bytes: number, sha256: string, source: string, tokenizerModel: string | null, errorCount: number, warningCount: number, errors: Array<{ line: number | null, code: string, field: string | null, message: string }>, warnings: Array<{ line: number | null, code: string, field: string | null, message: string }>, stats: { examples: number, lines: number, messagesPerRole: { system: number, user: number, assistant: number, tool: number } | null, tokens: { total: number, mean: number, max: number, trainable: number } | null } | null } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type CreateDatasetFromUrlMutationVariables = Exact<{
  input: CreateDatasetFromUrlInput;
}>;


export type CreateDatasetFromUrlMutation = { createDatasetFromUrl: { dataset: { id: string, status: DatasetStatus, filename: string | null, format: string | null, examples: number | null, bytes: number, sha256: string, source: string, tokenizerModel: string | null, errorCount: number, warningCount: number, errors: Array<{ line: number | null, code: string, field: string | null, message: string }>, warnings: Array<{ line: number | null, code: string, field: string | null, message: string }>, stats: { examples: number, lines: number, messagesPerRole: { system: number, user: number, assistant: number, tool: number } | null, tokens: { total: number, mean: number, max: number, trainable: number } | null } | null } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type CreateDatasetFromPathMutationVariables = Exact<{
  input: CreateDatasetFromPathInput;
}>;


export type CreateDatasetFromPathMutation = { createDatasetFromPath: { dataset: { id: string, status: DatasetStatus, filename: string | null, format: string | null, examples: number | null, bytes: number, sha256: string, source: string, tokenizerModel: string | null, errorCount: number, warningCount: number, errors: Array<{ line: number | null, code: string, field: string | null, message: string }>, warnings: Array<{ line: number | null, code: string, field: string | null, message: string }>, stats: { examples: number, lines: number, messagesPerRole: { system: number, user: number, assistant: number, tool: number } | null, tokens: { total: number, mean: number, max: number, trainable: number } | null } | null } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type DatasetQueryVariables = Exact<{
  id: string | number;
}>;


export type DatasetQuery = { dataset: { id: string, status: DatasetStatus, filename: string | null, format: string | null, examples: number | null, bytes: number, sha256: string, source: string, tokenizerModel: string | null, errorCount: number, warningCount: number, errors: Array<{ line: number | null, code: string, field: string | null, message: string }>, warnings: Array<{ line: number | null, code: string, field: string | null, message: string }>, stats: { examples: number, lines: number, messagesPerRole: { system: number, user: number, assistant: number, tool: number } | null, tokens: { total: number, mean: number, max: number, trainable: number } | null } | null } | null };

export type DatasetNodeQueryVariables = Exact<{
  id: string | number;
}>;


export type DatasetNodeQuery = { node:
    | { id: string }
    | { status: DatasetStatus, sha256: string, id: string }
    | { id: string }
    | { id: string }
    | { id: string }
    | { id: string }
   | null };

export type DatasetsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  status?: DatasetStatus | null | undefined;
}>;


export type DatasetsQuery = { datasets: { edges: Array<{ cursor: string, node: { id: string, status: DatasetStatus } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type DeleteDatasetMutationVariables = Exact<{
  id: string | number;
}>;


export type DeleteDatasetMutation = { deleteDataset: { deletedId: string | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type DeployModelMutationVariables = Exact<{
  modelId: string | number;
}>;


export type DeployModelMutation = { deployModel: { deployment: { id: string, status: DeploymentStatus, modelId: string } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type UndeployModelMutationVariables = Exact<{
  deploymentId: string | number;
}>;


export type UndeployModelMutation = { undeployModel: { deployment: { id: string, status: DeploymentStatus } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type DeploymentsQueryVariables = Exact<{
  includeUndeployed?: boolean | null | undefined;
}>;


export type DeploymentsQuery = { deployments: Array<{ id: string, status: DeploymentStatus, error: string | null, executionProvider: string | null, model: { id: string } | null }> };

export type DeploymentByIdQueryVariables = Exact<{
  id: string | number;
}>;


export type DeploymentByIdQuery = { deployment: { id: string, status: DeploymentStatus, error: string | null } | null };

export type GenerateMutationVariables = Exact<{
  input: GenerateInput;
}>;


export type GenerateMutation = { generate: { completion: { id: string, text: string, finishReason: FinishReason, cost: string, usage: { promptTokens: number, completionTokens: number, totalTokens: number } } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { field: string, code: string, message: string }
      | { code: string, message: string }
    > } };

export type GenerateStreamSubscriptionVariables = Exact<{
  input: GenerateInput;
}>;


export type GenerateStreamSubscription = { generateStream: { id: string, text: string, done: boolean, finishReason: FinishReason | null, usage: { completionTokens: number } | null } };

export type DeployModelQuantizedMutationVariables = Exact<{
  modelId: string | number;
  quantization?: Quantization | null | undefined;
}>;


export type DeployModelQuantizedMutation = { deployModel: { deployment: { id: string, status: DeploymentStatus, modelId: string, quantization: Quantization } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type DeploymentWeightsQueryVariables = Exact<{
  id: string | number;
}>;


export type DeploymentWeightsQuery = { deployment: { id: string, status: DeploymentStatus, error: string | null, quantization: Quantization, weightBytesOnDisk: number | null, weightBytesInMemory: number | null } | null };

export type UploadDatasetMutationVariables = Exact<{
  input: UploadDatasetInput;
}>;


export type UploadDatasetMutation = { uploadDataset: { dataset: { id: string, status: DatasetStatus } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type DatasetStatusQueryVariables = Exact<{
  id: string | number;
}>;


export type DatasetStatusQuery = { dataset: { id: string, status: DatasetStatus, examples: number | null, errorCount: number, errors: Array<{ line: number | null, code: string, field: string | null, message: string }>, stats: { examples: number, tokens: { total: number, max: number, trainable: number } | null } | null } | null };

export type StartFineTuneMutationVariables = Exact<{
  input: StartFineTuneInput;
}>;


export type StartFineTuneMutation = { startFineTune: { job: { id: string, status: TrainingStatus } | null, errors: Array<
      | { __typename: 'BaseError', code: string, message: string }
      | { __typename: 'InsufficientBalanceError', required: string, available: string, code: string, message: string }
      | { __typename: 'InvalidInputError', field: string, code: string, message: string }
      | { __typename: 'NotFoundError', code: string, message: string }
    > } };

export type EstimateFineTuneCostQueryVariables = Exact<{
  input: StartFineTuneInput;
}>;


export type EstimateFineTuneCostQuery = { estimateFineTuneCost: { billableTokens: number, epochs: number, cost: string, available: string, allowedToProceed: boolean } };

export type TrainingJobQueryVariables = Exact<{
  id: string | number;
}>;


export type TrainingJobQuery = { trainingJob: { id: string, status: TrainingStatus, step: number, totalSteps: number | null, loss: number | null, trainedTokens: number, cost: string, estimatedCost: string | null, pauseRequested: boolean, error: { code: string, message: string } | null, progress: { step: number, totalSteps: number | null, percent: number | null, tokensPerSecond: number | null }, metrics: { loss: number | null, minLoss: number | null, evalLoss: number | null }, fineTunedModel: { id: string, fineTunable: boolean } | null, checkpoints: Array<{ id: string, step: number, createdAt: string, metrics: { trainLoss: number | null, evalLoss: number | null } }>, steps: { edges: Array<{ node: { step: number, loss: number } }> } } | null };

export type CancelTrainingMutationVariables = Exact<{
  jobId: string | number;
}>;


export type CancelTrainingMutation = { cancelTraining: { job: { id: string, status: TrainingStatus } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type PauseTrainingMutationVariables = Exact<{
  jobId: string | number;
}>;


export type PauseTrainingMutation = { pauseTraining: { job: { id: string, status: TrainingStatus, pauseRequested: boolean } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type ResumeTrainingMutationVariables = Exact<{
  jobId: string | number;
}>;


export type ResumeTrainingMutation = { resumeTraining: { job: { id: string, status: TrainingStatus } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type TrainingProgressSubscriptionVariables = Exact<{
  jobId: string | number;
  afterStep?: number | null | undefined;
}>;


export type TrainingProgressSubscription = { trainingProgress: { jobId: string, kind: TrainingEventKind, sequence: number, status: TrainingStatus, step: number, totalSteps: number | null, loss: number | null, checkpointId: string | null } };

export type WebhookEndpointFieldsFragment = { id: string, url: string, description: string, events: Array<string>, enabled: boolean, disabledReason: WebhookEndpointDisabledReason | null, previousSecretExpiresAt: string | null, createdAt: string };

export type WebhookDeliveryFieldsFragment = { id: string, messageId: string, eventType: string, jobId: string | null, url: string, status: WebhookDeliveryStatus, attemptCount: number, lastStatusCode: number | null, lastError: string | null, deliveredAt: string | null, body: string, endpoint: { id: string } | null, attempts: Array<{ attempt: number, statusCode: number | null, error: string | null, latencyMs: number, responseSnippet: string | null }> };

export type CreateWebhookEndpointMutationVariables = Exact<{
  input: CreateWebhookEndpointInput;
}>;


export type CreateWebhookEndpointMutation = { createWebhookEndpoint: { secret: string | null, endpoint: { id: string, url: string, description: string, events: Array<string>, enabled: boolean, disabledReason: WebhookEndpointDisabledReason | null, previousSecretExpiresAt: string | null, createdAt: string } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { field: string, code: string, message: string }
      | { code: string, message: string }
    > } };

export type UpdateWebhookEndpointMutationVariables = Exact<{
  input: UpdateWebhookEndpointInput;
}>;


export type UpdateWebhookEndpointMutation = { updateWebhookEndpoint: { endpoint: { id: string, url: string, description: string, events: Array<string>, enabled: boolean, disabledReason: WebhookEndpointDisabledReason | null, previousSecretExpiresAt: string | null, createdAt: string } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { field: string, code: string, message: string }
      | { code: string, message: string }
    > } };

export type DeleteWebhookEndpointMutationVariables = Exact<{
  input: DeleteWebhookEndpointInput;
}>;


export type DeleteWebhookEndpointMutation = { deleteWebhookEndpoint: { deletedId: string | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type RotateWebhookEndpointSecretMutationVariables = Exact<{
  input: RotateWebhookEndpointSecretInput;
}>;


export type RotateWebhookEndpointSecretMutation = { rotateWebhookEndpointSecret: { secret: string | null, endpoint: { id: string, url: string, description: string, events: Array<string>, enabled: boolean, disabledReason: WebhookEndpointDisabledReason | null, previousSecretExpiresAt: string | null, createdAt: string } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type RedeliverWebhookMutationVariables = Exact<{
  input: RedeliverWebhookInput;
}>;


export type RedeliverWebhookMutation = { redeliverWebhook: { delivery: { id: string, messageId: string, eventType: string, jobId: string | null, url: string, status: WebhookDeliveryStatus, attemptCount: number, lastStatusCode: number | null, lastError: string | null, deliveredAt: string | null, body: string, endpoint: { id: string } | null, attempts: Array<{ attempt: number, statusCode: number | null, error: string | null, latencyMs: number, responseSnippet: string | null }> } | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

export type WebhookEndpointsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type WebhookEndpointsQuery = { webhookEndpoints: { edges: Array<{ cursor: string, node: { id: string, url: string, description: string, events: Array<string>, enabled: boolean, disabledReason: WebhookEndpointDisabledReason | null, previousSecretExpiresAt: string | null, createdAt: string } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type WebhookEndpointQueryVariables = Exact<{
  id: string | number;
}>;


export type WebhookEndpointQuery = { webhookEndpoint: { id: string, url: string, description: string, events: Array<string>, enabled: boolean, disabledReason: WebhookEndpointDisabledReason | null, previousSecretExpiresAt: string | null, createdAt: string } | null };

export type WebhookDeliveriesQueryVariables = Exact<{
  endpointId?: string | number | null | undefined;
  jobId?: string | number | null | undefined;
  status?: WebhookDeliveryStatus | null | undefined;
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type WebhookDeliveriesQuery = { webhookDeliveries: { edges: Array<{ node: { id: string, messageId: string, eventType: string, jobId: string | null, url: string, status: WebhookDeliveryStatus, attemptCount: number, lastStatusCode: number | null, lastError: string | null, deliveredAt: string | null, body: string, endpoint: { id: string } | null, attempts: Array<{ attempt: number, statusCode: number | null, error: string | null, latencyMs: number, responseSnippet: string | null }> } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type AccountWebhookSecretQueryVariables = Exact<{ [key: string]: never; }>;


export type AccountWebhookSecretQuery = { webhookEventTypes: Array<string>, account: { id: string, webhookSecret: string, previousWebhookSecretExpiresAt: string | null } };

export type RotateAccountWebhookSecretMutationVariables = Exact<{ [key: string]: never; }>;


export type RotateAccountWebhookSecretMutation = { rotateAccountWebhookSecret: { secret: string | null, previousSecretExpiresAt: string | null, errors: Array<
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
      | { code: string, message: string }
    > } };

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
export const DatasetDetailFragmentDoc = new TypedDocumentString(`
    fragment DatasetDetail on Dataset {
  id
  status
  filename
  format
  examples
  bytes
  sha256
  source
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
    messagesPerRole {
      system
      user
      assistant
      tool
    }
    tokens {
      total
      mean
      max
      trainable
    }
  }
}
    `, {"fragmentName":"DatasetDetail"}) as unknown as TypedDocumentString<DatasetDetailFragment, unknown>;
export const WebhookEndpointFieldsFragmentDoc = new TypedDocumentString(`
    fragment WebhookEndpointFields on WebhookEndpoint {
  id
  url
  description
  events
  enabled
  disabledReason
  previousSecretExpiresAt
  createdAt
}
    `, {"fragmentName":"WebhookEndpointFields"}) as unknown as TypedDocumentString<WebhookEndpointFieldsFragment, unknown>;
export const WebhookDeliveryFieldsFragmentDoc = new TypedDocumentString(`
    fragment WebhookDeliveryFields on WebhookDelivery {
  id
  messageId
  eventType
  jobId
  url
  status
  attemptCount
  lastStatusCode
  lastError
  deliveredAt
  body
  endpoint {
    id
  }
  attempts {
    attempt
    statusCode
    error
    latencyMs
    responseSnippet
  }
}
    `, {"fragmentName":"WebhookDeliveryFields"}) as unknown as TypedDocumentString<WebhookDeliveryFieldsFragment, unknown>;
export const AccountDocument = new TypedDocumentString(`
    query Account {
  account {
    id
    name
    balance
    reserved
    available
    ledger(first: 20) {
      edges {
        node {
          id
          type
          amount
          hold
          referenceId
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<AccountQuery, AccountQueryVariables>;
export const TopUpAccountDocument = new TypedDocumentString(`
    mutation TopUpAccount($input: TopUpAccountInput!) {
  topUpAccount(input: $input) {
    account {
      id
      balance
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<TopUpAccountMutation, TopUpAccountMutationVariables>;
export const FineTunableModelsDocument = new TypedDocumentString(`
    query FineTunableModels {
  fineTunableModels {
    id
    fineTunable
    architecture
    contextLength
    pricePerMillionTrainingTokens
  }
}
    `) as unknown as TypedDocumentString<FineTunableModelsQuery, FineTunableModelsQueryVariables>;
export const ModelsDocument = new TypedDocumentString(`
    query Models($first: Int, $after: String, $fineTunable: Boolean) {
  models(first: $first, after: $after, fineTunable: $fineTunable) {
    edges {
      cursor
      node {
        id
        fineTunable
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<ModelsQuery, ModelsQueryVariables>;
export const ModelByIdDocument = new TypedDocumentString(`
    query ModelById($id: ID!) {
  model(id: $id) {
    id
    fineTunable
  }
}
    `) as unknown as TypedDocumentString<ModelByIdQuery, ModelByIdQueryVariables>;
export const NodeByIdDocument = new TypedDocumentString(`
    query NodeById($id: ID!) {
  node(id: $id) {
    id
    __typename
  }
}
    `) as unknown as TypedDocumentString<NodeByIdQuery, NodeByIdQueryVariables>;
export const SetModelPricesDocument = new TypedDocumentString(`
    mutation SetModelPrices($input: SetModelPricesInput!) {
  setModelPrices(input: $input) {
    model {
      id
      pricePerMillionTrainingTokens
      pricePerMillionInferenceTokens
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<SetModelPricesMutation, SetModelPricesMutationVariables>;
export const SetModelDefaultQuantizationDocument = new TypedDocumentString(`
    mutation SetModelDefaultQuantization($input: SetModelDefaultQuantizationInput!) {
  setModelDefaultQuantization(input: $input) {
    model {
      id
      defaultQuantization
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<SetModelDefaultQuantizationMutation, SetModelDefaultQuantizationMutationVariables>;
export const UploadDatasetDetailDocument = new TypedDocumentString(`
    mutation UploadDatasetDetail($input: UploadDatasetInput!) {
  uploadDataset(input: $input) {
    dataset {
      ...DatasetDetail
    }
    errors {
      code
      message
    }
  }
}
    fragment DatasetDetail on Dataset {
  id
  status
  filename
  format
  examples
  bytes
  sha256
  source
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
    messagesPerRole {
      system
      user
      assistant
      tool
    }
    tokens {
      total
      mean
      max
      trainable
    }
  }
}`) as unknown as TypedDocumentString<UploadDatasetDetailMutation, UploadDatasetDetailMutationVariables>;
export const CreateDatasetFromUrlDocument = new TypedDocumentString(`
    mutation CreateDatasetFromUrl($input: CreateDatasetFromUrlInput!) {
  createDatasetFromUrl(input: $input) {
    dataset {
      ...DatasetDetail
    }
    errors {
      code
      message
    }
  }
}
    fragment DatasetDetail on Dataset {
  id
  status
  filename
  format
  examples
  bytes
  sha256
  source
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
    messagesPerRole {
      system
      user
      assistant
      tool
    }
    tokens {
      total
      mean
      max
      trainable
    }
  }
}`) as unknown as TypedDocumentString<CreateDatasetFromUrlMutation, CreateDatasetFromUrlMutationVariables>;
export const CreateDatasetFromPathDocument = new TypedDocumentString(`
    mutation CreateDatasetFromPath($input: CreateDatasetFromPathInput!) {
  createDatasetFromPath(input: $input) {
    dataset {
      ...DatasetDetail
    }
    errors {
      code
      message
    }
  }
}
    fragment DatasetDetail on Dataset {
  id
  status
  filename
  format
  examples
  bytes
  sha256
  source
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
    messagesPerRole {
      system
      user
      assistant
      tool
    }
    tokens {
      total
      mean
      max
      trainable
    }
  }
}`) as unknown as TypedDocumentString<CreateDatasetFromPathMutation, CreateDatasetFromPathMutationVariables>;
export const DatasetDocument = new TypedDocumentString(`
    query Dataset($id: ID!) {
  dataset(id: $id) {
    ...DatasetDetail
  }
}
    fragment DatasetDetail on Dataset {
  id
  status
  filename
  format
  examples
  bytes
  sha256
  source
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
    messagesPerRole {
      system
      user
      assistant
      tool
    }
    tokens {
      total
      mean
      max
      trainable
    }
  }
}`) as unknown as TypedDocumentString<DatasetQuery, DatasetQueryVariables>;
export const DatasetNodeDocument = new TypedDocumentString(`
    query DatasetNode($id: ID!) {
  node(id: $id) {
    id
    ... on Dataset {
      status
      sha256
    }
  }
}
    `) as unknown as TypedDocumentString<DatasetNodeQuery, DatasetNodeQueryVariables>;
export const DatasetsDocument = new TypedDocumentString(`
    query Datasets($first: Int, $after: String, $status: DatasetStatus) {
  datasets(first: $first, after: $after, status: $status) {
    edges {
      cursor
      node {
        id
        status
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<DatasetsQuery, DatasetsQueryVariables>;
export const DeleteDatasetDocument = new TypedDocumentString(`
    mutation DeleteDataset($id: ID!) {
  deleteDataset(id: $id) {
    deletedId
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<DeleteDatasetMutation, DeleteDatasetMutationVariables>;
export const DeployModelDocument = new TypedDocumentString(`
    mutation DeployModel($modelId: ID!) {
  deployModel(modelId: $modelId) {
    deployment {
      id
      status
      modelId
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<DeployModelMutation, DeployModelMutationVariables>;
export const UndeployModelDocument = new TypedDocumentString(`
    mutation UndeployModel($deploymentId: ID!) {
  undeployModel(deploymentId: $deploymentId) {
    deployment {
      id
      status
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<UndeployModelMutation, UndeployModelMutationVariables>;
export const DeploymentsDocument = new TypedDocumentString(`
    query Deployments($includeUndeployed: Boolean) {
  deployments(includeUndeployed: $includeUndeployed) {
    id
    status
    error
    executionProvider
    model {
      id
    }
  }
}
    `) as unknown as TypedDocumentString<DeploymentsQuery, DeploymentsQueryVariables>;
export const DeploymentByIdDocument = new TypedDocumentString(`
    query DeploymentById($id: ID!) {
  deployment(id: $id) {
    id
    status
    error
  }
}
    `) as unknown as TypedDocumentString<DeploymentByIdQuery, DeploymentByIdQueryVariables>;
export const GenerateDocument = new TypedDocumentString(`
    mutation Generate($input: GenerateInput!) {
  generate(input: $input) {
    completion {
      id
      text
      finishReason
      usage {
        promptTokens
        completionTokens
        totalTokens
      }
      cost
    }
    errors {
      code
      message
      ... on InvalidInputError {
        field
      }
    }
  }
}
    `) as unknown as TypedDocumentString<GenerateMutation, GenerateMutationVariables>;
export const GenerateStreamDocument = new TypedDocumentString(`
    subscription GenerateStream($input: GenerateInput!) {
  generateStream(input: $input) {
    id
    text
    done
    finishReason
    usage {
      completionTokens
    }
  }
}
    `) as unknown as TypedDocumentString<GenerateStreamSubscription, GenerateStreamSubscriptionVariables>;
export const DeployModelQuantizedDocument = new TypedDocumentString(`
    mutation DeployModelQuantized($modelId: ID!, $quantization: Quantization) {
  deployModel(modelId: $modelId, quantization: $quantization) {
    deployment {
      id
      status
      modelId
      quantization
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<DeployModelQuantizedMutation, DeployModelQuantizedMutationVariables>;
export const DeploymentWeightsDocument = new TypedDocumentString(`
    query DeploymentWeights($id: ID!) {
  deployment(id: $id) {
    id
    status
    error
    quantization
    weightBytesOnDisk
    weightBytesInMemory
  }
}
    `) as unknown as TypedDocumentString<DeploymentWeightsQuery, DeploymentWeightsQueryVariables>;
export const UploadDatasetDocument = new TypedDocumentString(`
    mutation UploadDataset($input: UploadDatasetInput!) {
  uploadDataset(input: $input) {
    dataset {
      id
      status
    }
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<UploadDatasetMutation, UploadDatasetMutationVariables>;
export const DatasetStatusDocument = new TypedDocumentString(`
    query DatasetStatus($id: ID!) {
  dataset(id: $id) {
    id
    status
    examples
    errorCount
    errors {
      line
      code
      field
      message
    }
    stats {
      examples
      tokens {
        total
        max
        trainable
      }
    }
  }
}
    `) as unknown as TypedDocumentString<DatasetStatusQuery, DatasetStatusQueryVariables>;
export const StartFineTuneDocument = new TypedDocumentString(`
    mutation StartFineTune($input: StartFineTuneInput!) {
  startFineTune(input: $input) {
    job {
      id
      status
    }
    errors {
      __typename
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
    `) as unknown as TypedDocumentString<StartFineTuneMutation, StartFineTuneMutationVariables>;
export const EstimateFineTuneCostDocument = new TypedDocumentString(`
    query EstimateFineTuneCost($input: StartFineTuneInput!) {
  estimateFineTuneCost(input: $input) {
    billableTokens
    epochs
    cost
    available
    allowedToProceed
  }
}
    `) as unknown as TypedDocumentString<EstimateFineTuneCostQuery, EstimateFineTuneCostQueryVariables>;
export const TrainingJobDocument = new TypedDocumentString(`
    query TrainingJob($id: ID!) {
  trainingJob(id: $id) {
    id
    status
    step
    totalSteps
    loss
    trainedTokens
    cost
    estimatedCost
    error {
      code
      message
    }
    progress {
      step
      totalSteps
      percent
      tokensPerSecond
    }
    metrics {
      loss
      minLoss
      evalLoss
    }
    fineTunedModel {
      id
      fineTunable
    }
    pauseRequested
    checkpoints {
      id
      step
      createdAt
      metrics {
        trainLoss
        evalLoss
      }
    }
    steps(first: 1000) {
      edges {
        node {
          step
          loss
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<TrainingJobQuery, TrainingJobQueryVariables>;
export const CancelTrainingDocument = new TypedDocumentString(`
    mutation CancelTraining($jobId: ID!) {
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
    `) as unknown as TypedDocumentString<CancelTrainingMutation, CancelTrainingMutationVariables>;
export const PauseTrainingDocument = new TypedDocumentString(`
    mutation PauseTraining($jobId: ID!) {
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
    `) as unknown as TypedDocumentString<PauseTrainingMutation, PauseTrainingMutationVariables>;
export const ResumeTrainingDocument = new TypedDocumentString(`
    mutation ResumeTraining($jobId: ID!) {
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
    `) as unknown as TypedDocumentString<ResumeTrainingMutation, ResumeTrainingMutationVariables>;
export const TrainingProgressDocument = new TypedDocumentString(`
    subscription TrainingProgress($jobId: ID!, $afterStep: Int) {
  trainingProgress(jobId: $jobId, afterStep: $afterStep) {
    jobId
    kind
    sequence
    status
    step
    totalSteps
    loss
    checkpointId
  }
}
    `) as unknown as TypedDocumentString<TrainingProgressSubscription, TrainingProgressSubscriptionVariables>;
export const CreateWebhookEndpointDocument = new TypedDocumentString(`
    mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    endpoint {
      ...WebhookEndpointFields
    }
    secret
    errors {
      code
      message
      ... on InvalidInputError {
        field
      }
    }
  }
}
    fragment WebhookEndpointFields on WebhookEndpoint {
  id
  url
  description
  events
  enabled
  disabledReason
  previousSecretExpiresAt
  createdAt
}`) as unknown as TypedDocumentString<CreateWebhookEndpointMutation, CreateWebhookEndpointMutationVariables>;
export const UpdateWebhookEndpointDocument = new TypedDocumentString(`
    mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(input: $input) {
    endpoint {
      ...WebhookEndpointFields
    }
    errors {
      code
      message
      ... on InvalidInputError {
        field
      }
    }
  }
}
    fragment WebhookEndpointFields on WebhookEndpoint {
  id
  url
  description
  events
  enabled
  disabledReason
  previousSecretExpiresAt
  createdAt
}`) as unknown as TypedDocumentString<UpdateWebhookEndpointMutation, UpdateWebhookEndpointMutationVariables>;
export const DeleteWebhookEndpointDocument = new TypedDocumentString(`
    mutation DeleteWebhookEndpoint($input: DeleteWebhookEndpointInput!) {
  deleteWebhookEndpoint(input: $input) {
    deletedId
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<DeleteWebhookEndpointMutation, DeleteWebhookEndpointMutationVariables>;
export const RotateWebhookEndpointSecretDocument = new TypedDocumentString(`
    mutation RotateWebhookEndpointSecret($input: RotateWebhookEndpointSecretInput!) {
  rotateWebhookEndpointSecret(input: $input) {
    endpoint {
      ...WebhookEndpointFields
    }
    secret
    errors {
      code
      message
    }
  }
}
    fragment WebhookEndpointFields on WebhookEndpoint {
  id
  url
  description
  events
  enabled
  disabledReason
  previousSecretExpiresAt
  createdAt
}`) as unknown as TypedDocumentString<RotateWebhookEndpointSecretMutation, RotateWebhookEndpointSecretMutationVariables>;
export const RedeliverWebhookDocument = new TypedDocumentString(`
    mutation RedeliverWebhook($input: RedeliverWebhookInput!) {
  redeliverWebhook(input: $input) {
    delivery {
      ...WebhookDeliveryFields
    }
    errors {
      code
      message
    }
  }
}
    fragment WebhookDeliveryFields on WebhookDelivery {
  id
  messageId
  eventType
  jobId
  url
  status
  attemptCount
  lastStatusCode
  lastError
  deliveredAt
  body
  endpoint {
    id
  }
  attempts {
    attempt
    statusCode
    error
    latencyMs
    responseSnippet
  }
}`) as unknown as TypedDocumentString<RedeliverWebhookMutation, RedeliverWebhookMutationVariables>;
export const WebhookEndpointsDocument = new TypedDocumentString(`
    query WebhookEndpoints($first: Int, $after: String) {
  webhookEndpoints(first: $first, after: $after) {
    edges {
      cursor
      node {
        ...WebhookEndpointFields
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment WebhookEndpointFields on WebhookEndpoint {
  id
  url
  description
  events
  enabled
  disabledReason
  previousSecretExpiresAt
  createdAt
}`) as unknown as TypedDocumentString<WebhookEndpointsQuery, WebhookEndpointsQueryVariables>;
export const WebhookEndpointDocument = new TypedDocumentString(`
    query WebhookEndpoint($id: ID!) {
  webhookEndpoint(id: $id) {
    ...WebhookEndpointFields
  }
}
    fragment WebhookEndpointFields on WebhookEndpoint {
  id
  url
  description
  events
  enabled
  disabledReason
  previousSecretExpiresAt
  createdAt
}`) as unknown as TypedDocumentString<WebhookEndpointQuery, WebhookEndpointQueryVariables>;
export const WebhookDeliveriesDocument = new TypedDocumentString(`
    query WebhookDeliveries($endpointId: ID, $jobId: ID, $status: WebhookDeliveryStatus, $first: Int, $after: String) {
  webhookDeliveries(
    endpointId: $endpointId
    jobId: $jobId
    status: $status
    first: $first
    after: $after
  ) {
    edges {
      node {
        ...WebhookDeliveryFields
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    fragment WebhookDeliveryFields on WebhookDelivery {
  id
  messageId
  eventType
  jobId
  url
  status
  attemptCount
  lastStatusCode
  lastError
  deliveredAt
  body
  endpoint {
    id
  }
  attempts {
    attempt
    statusCode
    error
    latencyMs
    responseSnippet
  }
}`) as unknown as TypedDocumentString<WebhookDeliveriesQuery, WebhookDeliveriesQueryVariables>;
export const AccountWebhookSecretDocument = new TypedDocumentString(`
    query AccountWebhookSecret {
  account {
    id
    webhookSecret
    previousWebhookSecretExpiresAt
  }
  webhookEventTypes
}
    `) as unknown as TypedDocumentString<AccountWebhookSecretQuery, AccountWebhookSecretQueryVariables>;
export const RotateAccountWebhookSecretDocument = new TypedDocumentString(`
    mutation RotateAccountWebhookSecret {
  rotateAccountWebhookSecret {
    secret
    previousSecretExpiresAt
    errors {
      code
      message
    }
  }
}
    `) as unknown as TypedDocumentString<RotateAccountWebhookSecretMutation, RotateAccountWebhookSecretMutationVariables>;