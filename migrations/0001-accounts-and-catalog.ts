import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/** Accounts, API keys and the model catalog. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table accounts (
      id text primary key,
      name text not null,
      is_admin boolean not null default false,
      balance_micros bigint not null default 0,
      reserved_micros bigint not null default 0,
      webhook_secret text not null,
      created_at timestamptz not null default now(),
      -- Money can be held only if it exists: available = balance - reserved is never negative.
      constraint accounts_reserved_nonnegative check (reserved_micros >= 0),
      constraint accounts_available_nonnegative check (balance_micros >= reserved_micros)
    )`.execute(db);

  await sql`
    create table api_keys (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      name text,
      prefix text not null,
      key_hash text not null unique,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    )`.execute(db);
  await sql`create index api_keys_account_idx on api_keys (account_id)`.execute(db);

  await sql`
    create table models (
      id text primary key,
      owner_account_id text references accounts(id) on delete cascade,
      base_model_id text references models(id),
      architecture text not null,
      parameter_count bigint not null,
      context_length integer not null,
      vocab_size integer not null,
      fine_tunable boolean not null default false,
      price_per_mtok_micros bigint not null default 0,
      inference_price_per_mtok_micros bigint not null default 0,
      storage_path text not null,
      tokenizer_sha256 text not null,
      chat_template_sha256 text,
      onnx_path text,
      adapter_path text,
      training_job_id text,
      created_at timestamptz not null default now(),
      constraint models_prices_nonnegative
        check (price_per_mtok_micros >= 0 and inference_price_per_mtok_micros >= 0)
    )`.execute(db);
  await sql`create index models_owner_idx on models (owner_account_id, created_at)`.execute(db);
}
