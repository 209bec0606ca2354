import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import type { InferenceUsage, UsageFinishReason } from '../db/tables/inference.js';
import { reserveFunds, settleReservation } from '../billing/reservations.js';
import { insertUsage } from './store/usage.js';

/** Price of `tokens` at a per-million-token price, rounded up to the next micro-dollar. */
export function tokenCostMicros(tokens: number, pricePerMTokMicros: bigint): bigint {
  return (BigInt(tokens) * pricePerMTokMicros + 999_999n) / 1_000_000n;
}

export interface MeteredRequest {
  usageId: string;
  accountId: string;
  /** null: the model was loaded on demand. */
  deploymentId: string | null;
  modelId: string;
  endpoint: string;
  pricePerMTokMicros: bigint;
  promptTokens: number;
  createdAt: Date;
}

/**
 * Holds the most the request can cost (prompt + max_tokens) before it is queued, so an
 * account cannot spend past its balance with parallel streams. Free models hold nothing.
 * Throws INSUFFICIENT_BALANCE.
 */
export async function reserveForRequest(db: Db, req: MeteredRequest, maxTokens: number): Promise<string | null> {
  const amountMicros = tokenCostMicros(req.promptTokens + maxTokens, req.pricePerMTokMicros);
  if (amountMicros === 0n) return null;
  return db.transaction().execute(async (trx) => {
    const reservation = await reserveFunds(trx, {
      accountId: req.accountId,
      amountMicros,
      purpose: 'inference',
      referenceId: req.usageId,
      description: `inference on ${req.modelId}: up to ${req.promptTokens + maxTokens} tokens`,
    });
    return reservation.id;
  });
}

/**
 * Writes the usage row and settles the reservation to the tokens actually processed, in
 * one transaction. A failed generation is not charged; a cancelled one pays for what was
 * generated before the client left.
 */
export async function recordUsage(
  db: Db,
  req: MeteredRequest,
  reservationId: string | null,
  outcome: { completionTokens: number; finishReason: UsageFinishReason },
): Promise<InferenceUsage> {
  const tokens = req.promptTokens + outcome.completionTokens;
  const cost = outcome.finishReason === 'error' ? 0n : tokenCostMicros(tokens, req.pricePerMTokMicros);
  return db.transaction().execute(async (trx) => {
    const settled = reservationId
      ? await settleReservation(
          trx,
          reservationId,
          cost,
          `inference on ${req.modelId}: ${req.promptTokens} prompt + ${outcome.completionTokens} completion tokens`,
        )
      : undefined;
    return insertUsage(trx, {
      id: req.usageId,
      account_id: req.accountId,
      deployment_id: req.deploymentId,
      model_id: req.modelId,
      endpoint: req.endpoint,
      prompt_tokens: req.promptTokens,
      completion_tokens: outcome.completionTokens,
      price_per_mtok_micros: req.pricePerMTokMicros,
      cost_micros: settled ? settled.chargedMicros : 0n,
      reservation_id: reservationId,
      finish_reason: outcome.finishReason,
      created_at: req.createdAt,
    });
  });
}

/**
 * Releases inference reservations whose request never finished: the process that held it
 * died mid-generation. No request runs this long (the longest context at 1 token/s is well
 * under an hour), so an open one older than `olderThanMs` is abandoned.
 */
export async function releaseAbandonedReservations(db: Db, olderThanMs: number): Promise<number> {
  const stale = await db
    .selectFrom('reservations')
    .select('id')
    .where('purpose', '=', 'inference')
    .where('status', '=', 'open')
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanMs / 1000})`)
    .limit(1000)
    .execute();
  for (const { id } of stale) {
    await db.transaction().execute((trx) => settleReservation(trx, id, 0n, 'released: the request holding it never finished'));
  }
  return stale.length;
}
