import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Job metadata: up to 16 string pairs a client attaches to a fine-tuning job (OpenAI's
 * `metadata`, docs/openai-compatibility.md) and lists jobs by (`metadata[k]=v`). The
 * job's seed is its `seed` hyperparameter, stored with the others.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table training_jobs add column metadata jsonb not null default '{}'::jsonb`.execute(db);
}
