import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Fine-tuned models can be deleted (`DELETE /v1/models/{id}`): the row stays, marked
 * `deleted_at`, so the jobs, usage and ledger entries that name the model keep their
 * history; a deleted model is invisible to every listing and lookup, like a missing one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table models add column deleted_at timestamptz`.execute(db);
}
