import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * OpenAI-compatible fine-tuning (docs/openai-compatibility.md). A job keeps the client's
 * `metadata` (up to 16 string pairs; lists filter on it). A webhook endpoint chooses the
 * shape of what it receives: Tuneloop's events (`TUNELOOP`, the default) or OpenAI's
 * `fine_tuning.job.*` events (`OPENAI`). A deleted fine-tuned model keeps its row (its
 * deployments' usage and ledger history point at it) but is hidden from every account.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table training_jobs add column metadata jsonb`.execute(db);
  await sql`alter table models add column deleted_at timestamptz`.execute(db);
  await sql`
    alter table webhook_endpoints
      add column format text not null default 'TUNELOOP'
        constraint webhook_endpoints_format_check check (format in ('TUNELOOP', 'OPENAI'))
  `.execute(db);
}
