import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Deployments and inference usage.
 *
 * A deployment is one account's claim to serve one model; the api processes load every
 * LOADING or READY deployment at start (the runtime of a model is shared by every
 * deployment of it in a process). At most one live deployment per account and model, so
 * deploying twice answers the first one. Undeployed rows stay, for the usage that names them.
 *
 * One usage row per request, written with the settlement of its reservation: the id is
 * also the completion id clients see and the ledger's reference.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table deployments (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      model_id text not null references models(id) on delete cascade,
      status text not null default 'LOADING' check (status in ('LOADING', 'READY', 'FAILED', 'UNDEPLOYED')),
      error text,
      execution_provider text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      ready_at timestamptz,
      undeployed_at timestamptz
    )`.execute(db);
  await sql`create unique index deployments_live_idx on deployments (account_id, model_id) where status in ('LOADING', 'READY')`.execute(
    db,
  );
  await sql`create index deployments_account_idx on deployments (account_id, created_at)`.execute(db);
  await sql`create index deployments_to_restore_idx on deployments (status) where status in ('LOADING', 'READY')`.execute(db);

  await sql`
    create table inference_usage (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      deployment_id text not null references deployments(id) on delete cascade,
      model_id text not null,
      endpoint text not null,
      prompt_tokens integer not null check (prompt_tokens >= 0),
      completion_tokens integer not null check (completion_tokens >= 0),
      price_per_mtok_micros bigint not null,
      cost_micros bigint not null check (cost_micros >= 0),
      reservation_id text references reservations(id),
      finish_reason text not null check (finish_reason in ('stop', 'length', 'cancelled', 'error')),
      created_at timestamptz not null,
      finished_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index inference_usage_account_idx on inference_usage (account_id, finished_at, id)`.execute(db);
}
