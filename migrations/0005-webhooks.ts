import type { Kysely } from 'kysely';

/** Webhook endpoints, the outbox and delivery attempts. */
export async function up(_db: Kysely<unknown>): Promise<void> {}
