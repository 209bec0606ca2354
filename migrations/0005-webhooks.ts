import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Webhook endpoints, the outbox and delivery attempts.
 *
 *   webhook_endpoints   an account's registered URLs, the event types they take and their
 *                       signing secret (plus the previous one for 24 h after a rotation)
 *   webhook_messages    the outbox: one row per event, written in the same transaction as
 *                       the job status change it announces; `id` is the `webhook-id` and
 *                       `payload` the exact body that is signed and sent
 *   webhook_deliveries  one row per (message, target): an endpoint, or a job's own
 *                       `webhookUrl` (endpoint_id null, url set). The delivery queue:
 *                       senders claim due rows with `FOR UPDATE SKIP LOCKED` and stamp a lease
 *   webhook_attempts    one row per HTTP attempt, for `webhookDeliveries`
 *
 * The payload is `text`, not `jsonb`: jsonb reorders keys, and the signature covers bytes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table webhook_endpoints (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      url text not null,
      description text not null default '',
      events text[] not null,
      enabled boolean not null default true,
      disabled_reason text,
      secret text not null,
      previous_secret text,
      previous_secret_expires_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index webhook_endpoints_account_idx on webhook_endpoints (account_id, id)`.execute(db);

  await sql`
    create table webhook_messages (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      event_type text not null,
      job_id text,
      payload text not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index webhook_messages_account_idx on webhook_messages (account_id, id)`.execute(db);

  await sql`
    create table webhook_deliveries (
      id text primary key,
      message_id text not null references webhook_messages(id) on delete cascade,
      account_id text not null references accounts(id) on delete cascade,
      endpoint_id text references webhook_endpoints(id) on delete cascade,
      url text,
      status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
      attempts integer not null default 0,
      max_attempts integer not null,
      next_attempt_at timestamptz not null default now(),
      lease_owner text,
      lease_expires_at timestamptz,
      last_status_code integer,
      last_error text,
      delivered_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      constraint webhook_deliveries_target check ((endpoint_id is null) <> (url is null))
    )`.execute(db);
  // The queue: due rows in time order. Finished rows leave the index; a claim moves its
  // rows' next_attempt_at to the end of their lease, so rows in flight leave its front.
  await sql`create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where status = 'pending'`.execute(db);
  await sql`create index webhook_deliveries_account_idx on webhook_deliveries (account_id, id)`.execute(db);
  await sql`create index webhook_deliveries_endpoint_idx on webhook_deliveries (endpoint_id, id)`.execute(db);
  await sql`create index webhook_deliveries_message_idx on webhook_deliveries (message_id)`.execute(db);

  await sql`
    create table webhook_attempts (
      delivery_id text not null references webhook_deliveries(id) on delete cascade,
      attempt integer not null,
      url text not null,
      started_at timestamptz not null,
      latency_ms integer not null,
      status_code integer,
      error text,
      response_snippet text,
      primary key (delivery_id, attempt)
    )`.execute(db);
}
