import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Datasets (content-addressed JSONL files with their validation report) and their
 * tokenizations (token shards per tokenizer + chat template, shared across accounts
 * because they are keyed by content).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table datasets (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      filename text,
      source text not null check (source in ('upload', 'url', 'path')),
      source_ref text,
      sha256 text not null,
      bytes bigint not null,
      storage_path text not null,
      status text not null check (status in ('VALIDATING', 'READY', 'INVALID')),
      format text check (format in ('chat', 'completion')),
      examples integer,
      stats jsonb,
      errors jsonb not null default '[]',
      error_count integer not null default 0,
      warnings jsonb not null default '[]',
      warning_count integer not null default 0,
      tokenizer_model_id text,
      validation_attempts integer not null default 0,
      validation_lease_expires_at timestamptz,
      created_at timestamptz not null default now(),
      validated_at timestamptz,
      constraint datasets_account_sha_unique unique (account_id, sha256)
    )`.execute(db);
  await sql`create index datasets_account_idx on datasets (account_id, id)`.execute(db);
  await sql`create index datasets_validating_idx on datasets (validation_lease_expires_at) where status = 'VALIDATING'`.execute(db);

  await sql`
    create table dataset_tokenizations (
      sha256 text not null,
      tokenizer_key text not null,
      shard_path text not null,
      examples integer not null,
      total_tokens bigint not null,
      trainable_tokens bigint not null,
      max_tokens integer not null,
      length_histogram jsonb not null,
      created_at timestamptz not null default now(),
      primary key (sha256, tokenizer_key)
    )`.execute(db);
}
