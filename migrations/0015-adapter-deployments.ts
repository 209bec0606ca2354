import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Adapter deployments. A LoRA fine-tune is served either as its adapter over the shared
 * LoRA-input runtime of its base model (`ADAPTER`) or as its own merged float32 or
 * quantized copy (`MERGED`, what every deployment was before).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table deployments
      add column served_as text not null default 'MERGED'
        constraint deployments_served_as_check check (served_as in ('ADAPTER', 'MERGED'))
  `.execute(db);
}
