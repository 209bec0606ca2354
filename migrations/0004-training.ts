import type { Kysely } from 'kysely';

/** Training jobs (the queue), their events and checkpoints. */
export async function up(_db: Kysely<unknown>): Promise<void> {}
