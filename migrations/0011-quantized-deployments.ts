import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Quantized deployments. A deployment serves its model's weights as float32 (`NONE`) or
 * block-quantized to 8 or 4 bits (`INT8`, `INT4`), and records what its weights take on
 * disk and in memory once loaded. A model carries the quantization its deployments get
 * when none is asked for (`NONE` unless an admin sets it).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table models
      add column default_quantization text not null default 'NONE'
        constraint models_default_quantization_check check (default_quantization in ('NONE', 'INT8', 'INT4'))
  `.execute(db);
  await sql`
    alter table deployments
      add column quantization text not null default 'NONE'
        constraint deployments_quantization_check check (quantization in ('NONE', 'INT8', 'INT4')),
      add column weight_bytes_on_disk bigint,
      add column weight_bytes_in_memory bigint
  `.execute(db);
}
