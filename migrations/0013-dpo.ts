import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Preference tuning and continued training. A job's method may be DPO, which trains LoRA
 * adapters or all weights (`trainable`; supervised jobs store their method's own). A job
 * may start from a fine-tuned model or a checkpoint of one (`parent_model_id`, a model id
 * such as `ft:…` or `ft:…:ckpt-step-N`, not a foreign key: a checkpoint is no catalog
 * row); `base_model_id` stays the root base. A fine-tuned model records the same parent.
 * `reward_metrics`: a DPO job's latest step's rewards (as `loss` is its latest loss).
 * A dataset's format may be `preference` (a prompt with a preferred and a non-preferred answer).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table training_jobs drop constraint if exists training_jobs_method_check`.execute(db);
  await sql`
    alter table training_jobs
      add constraint training_jobs_method_check check (method in ('LORA', 'FULL', 'DPO')),
      add column trainable text,
      add column parent_model_id text,
      add column reward_metrics jsonb
  `.execute(db);
  await sql`update training_jobs set trainable = method where trainable is null`.execute(db);
  await sql`
    alter table training_jobs
      alter column trainable set not null,
      alter column trainable set default 'LORA',
      add constraint training_jobs_trainable_check check (trainable in ('LORA', 'FULL'))
  `.execute(db);
  await sql`alter table models add column parent_model_id text`.execute(db);
  await sql`alter table datasets drop constraint if exists datasets_format_check`.execute(db);
  await sql`
    alter table datasets add constraint datasets_format_check check (format in ('chat', 'completion', 'preference'))
  `.execute(db);
}
