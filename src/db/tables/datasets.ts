import type { Generated, Selectable } from 'kysely';
import type { CreatedAt, Int8, Json, Timestamp } from '../schema.js';

export type DatasetStatus = 'VALIDATING' | 'READY' | 'INVALID';

export interface DatasetsTable {
  id: string;
  account_id: string;
  filename: string | null;
  source: 'upload' | 'url' | 'path';
  source_ref: string | null;
  sha256: string;
  bytes: Int8;
  storage_path: string;
  status: DatasetStatus;
  format: 'chat' | 'completion' | 'preference' | null;
  examples: number | null;
  stats: Json<Record<string, unknown>> | null;
  errors: Json<unknown[]>;
  error_count: Generated<number>;
  warnings: Json<unknown[]>;
  warning_count: Generated<number>;
  tokenizer_model_id: string | null;
  validation_attempts: Generated<number>;
  validation_lease_expires_at: Timestamp | null;
  created_at: CreatedAt;
  validated_at: Timestamp | null;
}

export interface DatasetTokenizationsTable {
  sha256: string;
  tokenizer_key: string;
  shard_path: string;
  examples: number;
  total_tokens: Int8;
  trainable_tokens: Int8;
  max_tokens: number;
  /** [length, count] pairs: Σ min(length, L) for any maximum sequence length L. */
  length_histogram: Json<Array<[number, number]>>;
  created_at: CreatedAt;
}

/** A tokenization in progress: `holder` renews `expires_at` by heartbeat (migrations/0010-dataset-leases.ts). */
export interface DatasetTokenizationLeasesTable {
  sha256: string;
  tokenizer_key: string;
  holder: string;
  expires_at: Timestamp;
}

/** Tables owned by the datasets domain (migrations/0003-datasets.ts, 0010-dataset-leases.ts). */
export interface DatasetTables {
  datasets: DatasetsTable;
  dataset_tokenizations: DatasetTokenizationsTable;
  dataset_tokenization_leases: DatasetTokenizationLeasesTable;
}

export type Dataset = Selectable<DatasetsTable>;
export type DatasetTokenization = Selectable<DatasetTokenizationsTable>;
