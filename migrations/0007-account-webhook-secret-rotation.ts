import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * The account's default webhook secret (it signs the callbacks sent to a job's own
 * webhookUrl) can be rotated like an endpoint's: the previous secret keeps signing, as a
 * second signature, until `previous_webhook_secret_expires_at`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table accounts
      add column previous_webhook_secret text,
      add column previous_webhook_secret_expires_at timestamptz
  `.execute(db);
}
