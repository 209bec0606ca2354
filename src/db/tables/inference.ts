import type { ColumnType, Selectable } from 'kysely';
import type { CreatedAt, Int8, Timestamp } from '../schema.js';
import type { Quantization } from '../../catalog/quantization.js';

type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

/** Tables owned by the inference domain (migrations/0006-inference.ts and 0011 hold their SQL). */
export interface InferenceTables {
  deployments: DeploymentsTable;
  inference_usage: InferenceUsageTable;
}

export type ServedAs = 'ADAPTER' | 'MERGED';

export type DeploymentStatus = 'LOADING' | 'READY' | 'FAILED' | 'UNDEPLOYED';

export interface DeploymentsTable {
  id: string;
  account_id: string;
  model_id: string;
  status: DeploymentStatus;
  /** Why loading failed (FAILED only). */
  error: string | null;
  /** Where the session runs: `cpu`, `cuda`, … (set when it loaded). */
  execution_provider: string | null;
  /** The weights it serves: float32 (`NONE`) or block-quantized (migrations/0011). */
  quantization: ColumnType<Quantization, Quantization | undefined, Quantization>;
  /** ADAPTER: a LoRA fine-tune's adapter over its base's shared runtime; MERGED: its own copy of the weights (migrations/0015). */
  served_as: ColumnType<ServedAs, ServedAs | undefined, ServedAs>;
  /** Size of the ONNX files it loaded (set when it loaded). */
  weight_bytes_on_disk: Int8 | null;
  /** What its weight tensors take in the runtime session (set when it loaded; quantized-export.ts). */
  weight_bytes_in_memory: Int8 | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  ready_at: Timestamp | null;
  undeployed_at: Timestamp | null;
}

export type UsageFinishReason = 'stop' | 'length' | 'cancelled' | 'error';

export interface InferenceUsageTable {
  /**
   * The completion id, also the ledger's reference: `chatcmpl-…` (/v1/chat/completions),
   * `cmpl-…` (/v1/completions) or `use_…` (GraphQL and other callers).
   */
  id: string;
  account_id: string;
  /** null: the model was loaded on demand (migrations/0014). */
  deployment_id: string | null;
  model_id: string;
  /** `chat.completions`, `completions` or `graphql`. */
  endpoint: string;
  prompt_tokens: number;
  completion_tokens: number;
  price_per_mtok_micros: Int8;
  cost_micros: Int8;
  reservation_id: string | null;
  finish_reason: UsageFinishReason;
  created_at: Timestamp;
  finished_at: CreatedAt;
}

export type Deployment = Selectable<DeploymentsTable>;
export type InferenceUsage = Selectable<InferenceUsageTable>;
