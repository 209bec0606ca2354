import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Fine-tuned models can be deleted (`DELETE /v1/models/{id}`): the row stays, marked
 * `deleted_at`, so the jobs, usage and ledger entries that name the model keep their
 * history; a deleted model is invisible to every listing and lookup, like a missing one.
 *
 * A webhook endpoint has a `format`: `tuneloop` (our event names and body, the default) or
 * `openai` (OpenAI's fine-tuning event names and body, src/webhooks/openai-format.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table models add column deleted_at timestamptz`.execute(db);
  await sql`
    alter table webhook_endpoints
      add column format text not null default 'tuneloop' check (format in ('tuneloop', 'openai'))
  `.execute(db);
}
