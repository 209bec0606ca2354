import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { DatasetTables } from './tables/datasets.js';
import type { TrainingTables } from './tables/training.js';
import type { WebhookTables } from './tables/webhooks.js';
import type { InferenceTables } from './tables/inference.js';
import type { TrainingDefaultsInput } from '../catalog/training-defaults.js';
import type { Quantization } from '../catalog/quantization.js';

/**
 * The typed shape of every table, one interface per table, written to match the SQL in
 * `migrations/`. int8 columns come back as `bigint` on both engines (see connect.ts);
 * jsonb columns are written as JSON text and read back parsed.
 */

/** A bigint column: read as bigint, written from bigint, number or numeric string. */
export type Int8 = ColumnType<bigint, bigint | number | string, bigint | number | string>;
export type Int8Generated = ColumnType<bigint, bigint | number | string | undefined, bigint | number | string>;
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
export type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
export type Json<T> = ColumnType<T, string, string>;

export interface AccountsTable {
  id: string;
  name: string;
  is_admin: Generated<boolean>;
  balance_micros: Int8Generated;
  reserved_micros: Int8Generated;
  /** Signs per-job `webhookUrl` callbacks (webhooks issue). */
  webhook_secret: string;
  /** After a rotation, the old secret signs too (a second signature) until this time. */
  previous_webhook_secret: string | null;
  previous_webhook_secret_expires_at: Date | null;
  created_at: CreatedAt;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  name: string | null;
  /** First characters of the key, shown in listings so users recognise it. */
  prefix: string;
  /** sha256 of the whole key, hex. */
  key_hash: string;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface ModelsTable {
  id: string;
  /** null = a base model visible to every account. */
  owner_account_id: string | null;
  /** The root base model (for a fine-tune of a fine-tune too). */
  base_model_id: string | null;
  /** The fine-tuned model or checkpoint its job started from; null = trained from the base (migrations/0013). */
  parent_model_id: string | null;
  architecture: string;
  parameter_count: Int8;
  context_length: number;
  vocab_size: number;
  fine_tunable: Generated<boolean>;
  price_per_mtok_micros: Int8Generated;
  inference_price_per_mtok_micros: Int8Generated;
  storage_path: string;
  tokenizer_sha256: string;
  chat_template_sha256: string | null;
  onnx_path: string | null;
  /** What deployments get when they ask for no quantization (migrations/0011). */
  default_quantization: ColumnType<Quantization, Quantization | undefined, Quantization>;
  adapter_path: string | null;
  training_job_id: string | null;
  /** The model's recommended training defaults as registered (catalog/training-defaults.ts); null = the platform's. */
  training_defaults: ColumnType<TrainingDefaultsInput | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  /** Set when its owner deleted it (migrations/0016): invisible from then on. */
  deleted_at: ColumnType<Date | null, never, Date | string | null>;
}

/** Every table. Domains that own tables declare them in src/db/tables/<domain>.ts. */
export interface Database extends DatasetTables, TrainingTables, WebhookTables, InferenceTables {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  models: ModelsTable;
  reservations: ReservationsTable;
  ledger_entries: LedgerEntriesTable;
}

export type Account = Selectable<AccountsTable>;
export type NewAccount = Insertable<AccountsTable>;
export type ApiKey = Selectable<ApiKeysTable>;
export type Model = Selectable<ModelsTable>;
export type NewModel = Insertable<ModelsTable>;
export type ModelUpdate = Updateable<ModelsTable>;

export type LedgerEntryType = 'topup' | 'reserve' | 'release' | 'charge' | 'refund' | 'adjustment';

export interface ReservationsTable {
  id: string;
  account_id: string;
  purpose: 'training' | 'inference';
  reference_id: string | null;
  amount_micros: Int8;
  charged_micros: Int8Generated;
  released_micros: Int8Generated;
  status: Generated<'open' | 'settled'>;
  created_at: CreatedAt;
  settled_at: Timestamp | null;
}

export interface LedgerEntriesTable {
  id: string;
  seq: Int8Generated;
  account_id: string;
  type: LedgerEntryType;
  amount_micros: Int8Generated;
  hold_micros: Int8Generated;
  reservation_id: string | null;
  reference_id: string | null;
  description: Generated<string>;
  created_at: CreatedAt;
}

export type Reservation = Selectable<ReservationsTable>;
export type LedgerEntry = Selectable<LedgerEntriesTable>;
