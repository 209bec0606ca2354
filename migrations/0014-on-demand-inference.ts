import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * On-demand inference. A fine-tuned model or a checkpoint can be called without a
 * deployment (docs/inference.md § On-demand models): its requests are metered like any
 * other, with no deployment to point at.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table inference_usage alter column deployment_id drop not null`.execute(db);
}
