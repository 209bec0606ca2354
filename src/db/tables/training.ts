import type { ColumnType, Generated, Selectable } from 'kysely';
import type { CreatedAt, Int8, Int8Generated, Json, Timestamp } from '../schema.js';

export type TrainingStatus = 'VALIDATING' | 'QUEUED' | 'RUNNING' | 'PAUSED' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const TERMINAL_STATUSES: readonly TrainingStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
export type TrainingMethod = 'LORA' | 'FULL' | 'DPO';
/** Which weights a job trains: LoRA adapters or all of them (a DPO job trains either). */
export type TrainableWeights = 'LORA' | 'FULL';
export type TrainingEventType = 'status' | 'step' | 'eval' | 'checkpoint';

export interface TrainingJobsTable {
  id: string;
  account_id: string;
  base_model_id: string;
  training_dataset_id: string;
  validation_dataset_id: string | null;
  method: TrainingMethod;
  /** LORA or FULL: the method's own for supervised jobs, chosen for DPO (migrations/0013). */
  trainable: ColumnType<TrainableWeights, TrainableWeights | undefined, TrainableWeights>;
  /**
   * Continued training: the fine-tuned model (`ft:…`) or checkpoint (`ft:…:ckpt-step-N`) the
   * job starts from; null = the bare base model. `base_model_id` is always the root base.
   */
  parent_model_id: string | null;
  /** The resolved hyperparameters the trainer runs with ("auto" already decided). */
  hyperparameters: Json<Record<string, unknown>>;
  /** The request as given (for idempotency comparison and display). */
  requested: Json<Record<string, unknown>>;
  suffix: string | null;
  /** Up to 16 string pairs the client attached (OpenAI's `metadata`; migrations/0017). */
  metadata: ColumnType<Record<string, string>, string | undefined, string>;
  webhook_url: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  status: TrainingStatus;
  priority: Generated<number>;
  step: Generated<number>;
  total_steps: number | null;
  epoch: number | null;
  loss: number | null;
  /** DPO: the reward metrics of the latest step (null for supervised jobs; migrations/0013). */
  reward_metrics: ColumnType<
    { rewardAccuracy: number; rewardMargin: number; chosenReward: number; rejectedReward: number } | null,
    string | null | undefined,
    string | null
  >;
  min_loss: number | null;
  eval_loss: number | null;
  tokens_per_second: number | null;
  eta_seconds: number | null;
  estimated_tokens: Int8 | null;
  trained_tokens: Int8Generated;
  estimated_cost_micros: Int8 | null;
  cost_micros: Int8Generated;
  reservation_id: string | null;
  error_code: string | null;
  error_message: string | null;
  fine_tuned_model_id: string | null;
  attempts: Generated<number>;
  /** The checkpoint step the latest attempt resumed from (null = from the start). */
  resumed_from_step: number | null;
  max_attempts: Generated<number>;
  worker_id: string | null;
  lease_expires_at: Timestamp | null;
  cancel_requested_at: Timestamp | null;
  /** Set while a RUNNING job's trainer is being stopped to pause it (migrations/0009). */
  pause_requested_at: Timestamp | null;
  event_seq: Generated<number>;
  created_at: CreatedAt;
  queued_at: Timestamp | null;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface TrainingEventsTable {
  job_id: string;
  seq: number;
  type: TrainingEventType;
  step: number;
  status: TrainingStatus;
  payload: Json<Record<string, unknown>>;
  created_at: CreatedAt;
}

export interface TrainingCheckpointsTable {
  job_id: string;
  step: number;
  /** The folder on the server: for the worker only, never shown to API clients. */
  path: string;
  created_at: CreatedAt;
}

/** Tables owned by the training domain (migrations/0004-training.ts, 0009, 0013, 0017). */
export interface TrainingTables {
  training_jobs: TrainingJobsTable;
  training_events: TrainingEventsTable;
  training_checkpoints: TrainingCheckpointsTable;
}

export type TrainingJob = Selectable<TrainingJobsTable>;
export type TrainingEvent = Selectable<TrainingEventsTable>;
