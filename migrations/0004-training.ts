import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Training jobs — the table is also the queue — with their events and checkpoints.
 *
 * Workers claim the oldest QUEUED job of the highest priority with one
 * `FOR UPDATE SKIP LOCKED` statement that stamps a lease; the lease is renewed by
 * heartbeat and a sweeper re-queues jobs whose lease expired. Every status change is one
 * transaction with its event row, so subscribers and webhooks replay from stored rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table training_jobs (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      base_model_id text not null references models(id),
      training_dataset_id text not null,
      validation_dataset_id text,
      method text not null check (method in ('LORA', 'FULL')),
      hyperparameters jsonb not null,
      requested jsonb not null,
      suffix text,
      webhook_url text,
      idempotency_key text,
      request_hash text,
      status text not null check (status in ('VALIDATING', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
      priority integer not null default 0,
      step integer not null default 0,
      total_steps integer,
      epoch double precision,
      loss double precision,
      min_loss double precision,
      eval_loss double precision,
      tokens_per_second double precision,
      eta_seconds double precision,
      estimated_tokens bigint,
      trained_tokens bigint not null default 0,
      estimated_cost_micros bigint,
      cost_micros bigint not null default 0,
      reservation_id text references reservations(id),
      error_code text,
      error_message text,
      fine_tuned_model_id text,
      attempts integer not null default 0,
      resumed_from_step integer,
      max_attempts integer not null default 3,
      worker_id text,
      lease_expires_at timestamptz,
      cancel_requested_at timestamptz,
      event_seq integer not null default 0,
      created_at timestamptz not null default now(),
      queued_at timestamptz,
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz not null default now(),
      constraint training_jobs_idempotency unique (account_id, idempotency_key)
    )`.execute(db);
  await sql`create index training_jobs_queue_idx on training_jobs (priority desc, queued_at, id) where status = 'QUEUED'`.execute(db);
  await sql`create index training_jobs_lease_idx on training_jobs (lease_expires_at) where status = 'RUNNING'`.execute(db);
  await sql`create index training_jobs_account_idx on training_jobs (account_id, id)`.execute(db);
  await sql`create index training_jobs_validating_idx on training_jobs (training_dataset_id) where status = 'VALIDATING'`.execute(db);

  await sql`
    create table training_events (
      job_id text not null references training_jobs(id) on delete cascade,
      seq integer not null,
      type text not null check (type in ('status', 'step', 'eval', 'checkpoint')),
      step integer not null,
      status text not null,
      payload jsonb not null,
      created_at timestamptz not null default now(),
      primary key (job_id, seq)
    )`.execute(db);
  // One row per step number: a resumed trainer re-emits steps after its checkpoint.
  await sql`create unique index training_events_step_idx on training_events (job_id, step) where type = 'step'`.execute(db);

  await sql`
    create table training_checkpoints (
      job_id text not null references training_jobs(id) on delete cascade,
      step integer not null,
      path text not null,
      created_at timestamptz not null default now(),
      primary key (job_id, step)
    )`.execute(db);
}
