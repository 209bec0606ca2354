import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Tokenization leases: the process that tokenizes a dataset for a tokenizer holds a short
 * lease it renews by heartbeat, so two processes never tokenize the same shard at once and
 * one that dies is replaced within seconds (dataset validation already has its lease on
 * the dataset row). Rows live only while a tokenization runs.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table dataset_tokenization_leases (
      sha256 text not null,
      tokenizer_key text not null,
      holder text not null,
      expires_at timestamptz not null,
      primary key (sha256, tokenizer_key)
    )`.execute(db);
}
