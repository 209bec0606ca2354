import type { Kysely } from 'kysely';

/** Datasets and their tokenizations (filled in by the datasets work). */
export async function up(_db: Kysely<unknown>): Promise<void> {}
