import { sql } from 'kysely';
import type { Db, Queryable } from '../db/connect.js';

/**
 * Leases on tokenizations in progress (table `dataset_tokenization_leases`), one per
 * (dataset bytes, tokenizer): the process that tokenizes renews it by heartbeat, others
 * wait for its shard instead of writing the same one, and when the holder dies its lease
 * lapses within seconds and a waiting process takes over. Same timing as validation
 * leases (validation-lease.ts).
 */
export const TOKENIZATION_LEASE_SECONDS = 15;
export const TOKENIZATION_HEARTBEAT_MS = 5_000;

export interface TokenizationKey {
  sha256: string;
  tokenizerKey: string;
}

/** Takes the lease when it is free or expired; false while another live holder has it. */
export async function claimTokenization(db: Db, key: TokenizationKey, holder: string): Promise<boolean> {
  const row = await db
    .insertInto('dataset_tokenization_leases')
    .values({
      sha256: key.sha256,
      tokenizer_key: key.tokenizerKey,
      holder,
      expires_at: sql`now() + make_interval(secs => ${TOKENIZATION_LEASE_SECONDS})`,
    })
    .onConflict((oc) =>
      oc
        .columns(['sha256', 'tokenizer_key'])
        .doUpdateSet({ holder, expires_at: sql`now() + make_interval(secs => ${TOKENIZATION_LEASE_SECONDS})` })
        .where('dataset_tokenization_leases.expires_at', '<', sql<Date>`now()`),
    )
    .returning('holder')
    .executeTakeFirst();
  return row?.holder === holder;
}

/** Extends `holder`'s lease; false when another process has taken it over. */
export async function renewTokenization(db: Db, key: TokenizationKey, holder: string): Promise<boolean> {
  const row = await db
    .updateTable('dataset_tokenization_leases')
    .set({ expires_at: sql`now() + make_interval(secs => ${TOKENIZATION_LEASE_SECONDS})` })
    .where('sha256', '=', key.sha256)
    .where('tokenizer_key', '=', key.tokenizerKey)
    .where('holder', '=', holder)
    .returning('holder')
    .executeTakeFirst();
  return row !== undefined;
}

/** Ends `holder`'s lease (its shard is recorded, or it gave up). */
export async function releaseTokenization(db: Queryable, key: TokenizationKey, holder: string): Promise<void> {
  await db
    .deleteFrom('dataset_tokenization_leases')
    .where('sha256', '=', key.sha256)
    .where('tokenizer_key', '=', key.tokenizerKey)
    .where('holder', '=', holder)
    .execute();
}
