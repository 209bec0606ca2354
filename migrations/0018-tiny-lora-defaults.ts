import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * The tiny model's training defaults gained a LoRA rank and target modules (rank 32 on all
 * linear layers at 1e-3: docs/training.md, "How auto is decided"), without which LoRA on
 * its random weights memorises a fraction of a small dataset. A model registered by
 * `models init-tiny` or the demo before stored exactly the old tiny defaults; those rows
 * get the new ones. Any other stored value was chosen by an operator and is kept.
 */
const OLD_TINY = { learningRate: { LORA: 3e-3, FULL: 2e-3 }, targetExamples: 4000, minEpochs: 10, maxEpochs: 40 };
const NEW_TINY = { ...OLD_TINY, learningRate: { LORA: 1e-3, FULL: 2e-3 }, loraRank: 32, loraTargetModules: ['all-linear'] };

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`update models set training_defaults = ${JSON.stringify(NEW_TINY)}::jsonb
            where training_defaults = ${JSON.stringify(OLD_TINY)}::jsonb`.execute(db);
}
