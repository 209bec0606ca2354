import type { Kysely } from 'kysely';

/** Deployments and inference usage. */
export async function up(_db: Kysely<unknown>): Promise<void> {}
