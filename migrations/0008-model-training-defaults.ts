import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * A model's recommended training defaults (src/catalog/training-defaults.ts): the learning
 * rate per method and the epoch rule that "auto" hyperparameters start from. Only the
 * values given when the model was registered are stored; null = the platform's
 * conservative defaults for a pre-trained model.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table models add column training_defaults jsonb`.execute(db);
}
