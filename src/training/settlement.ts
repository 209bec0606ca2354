import type { Tx } from '../db/connect.js';
import type { TrainingJob } from '../db/tables/training.js';
import { settleReservation } from '../billing/reservations.js';
import { tokenCost } from './hyperparameters.js';

/** Who pays when a job ends (see settleJobBilling). */
export type ChargeRule = 'charge-trained' | 'charge-nothing';

/**
 * Who pays when a job ends:
 * - `charge-trained`: success, cancel, or a failure caused by the user's data or settings —
 *   the tokens actually trained × the model's price (never more than was reserved);
 * - `charge-nothing`: a failure caused by the platform (trainer crash, lost worker).
 * A paused job is not settled: it keeps its reservation until it ends.
 * The unused rest of the reservation is released. Returns the amount charged.
 */
export async function settleJobBilling(trx: Tx, job: TrainingJob, rule: ChargeRule): Promise<bigint> {
  if (!job.reservation_id) return 0n;
  let charge = 0n;
  if (rule === 'charge-trained') {
    const model = await trx.selectFrom('models').select('price_per_mtok_micros').where('id', '=', job.base_model_id).executeTakeFirst();
    charge = tokenCost(job.trained_tokens, model?.price_per_mtok_micros ?? 0n);
  }
  const settlement = await settleReservation(
    trx,
    job.reservation_id,
    charge,
    `fine-tuning ${job.id}: ${job.trained_tokens} tokens trained`,
  );
  return settlement.chargedMicros;
}

/** Trainer failure codes caused by the user's data or hyperparameters (charged); all others are the platform's. */
export const USER_CAUSED_FAILURES = new Set(['NO_TRAINABLE_TOKENS', 'NAN_LOSS', 'DATASET_INVALID']);
