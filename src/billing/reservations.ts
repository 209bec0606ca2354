import type { Queryable } from '../db/connect.js';
import type { Reservation } from '../db/schema.js';
import { InsufficientBalanceError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import { postLedgerEntry, readAccountMoney } from './ledger.js';

export interface ReserveRequest {
  accountId: string;
  amountMicros: bigint;
  purpose: 'training' | 'inference';
  referenceId: string;
  description?: string;
}

/**
 * Holds `amountMicros` of the account's available balance, atomically.
 *
 * The account row is locked (`FOR UPDATE`) before the check, so concurrent starts are
 * serialized per account: with a balance that covers 10 jobs, 100 parallel starts make
 * exactly 10 reservations. Must run inside a transaction.
 */
export async function reserveFunds(trx: Queryable, req: ReserveRequest): Promise<Reservation> {
  const money = await readAccountMoney(trx, req.accountId, true);
  if (money.availableMicros < req.amountMicros) {
    throw new InsufficientBalanceError(req.amountMicros, money.availableMicros);
  }
  const reservation = await trx
    .insertInto('reservations')
    .values({
      id: newId('reservation'),
      account_id: req.accountId,
      purpose: req.purpose,
      reference_id: req.referenceId,
      amount_micros: req.amountMicros,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await postLedgerEntry(trx, {
    accountId: req.accountId,
    type: 'reserve',
    holdMicros: req.amountMicros,
    reservationId: reservation.id,
    referenceId: req.referenceId,
    description: req.description ?? `reserved for ${req.referenceId}`,
  });
  return reservation;
}

export interface Settlement {
  chargedMicros: bigint;
  releasedMicros: bigint;
  /** False when the reservation had already been settled (a repeated settlement is a no-op). */
  applied: boolean;
}

/**
 * Closes a reservation: charges `chargeMicros` (capped at what was reserved) and releases
 * the rest. Idempotent: settling a settled reservation changes nothing, so a retried
 * status change can never charge twice. Must run inside a transaction.
 */
export async function settleReservation(
  trx: Queryable,
  reservationId: string,
  chargeMicros: bigint,
  description = '',
): Promise<Settlement> {
  const reservation = await trx.selectFrom('reservations').selectAll().where('id', '=', reservationId).forUpdate().executeTakeFirst();
  if (!reservation) throw new NotFoundError('reservation', reservationId);
  if (reservation.status === 'settled') {
    return { chargedMicros: reservation.charged_micros, releasedMicros: reservation.released_micros, applied: false };
  }
  const amount = reservation.amount_micros;
  const charge = chargeMicros < 0n ? 0n : chargeMicros > amount ? amount : chargeMicros;
  const release = amount - charge;
  if (charge > 0n) {
    await postLedgerEntry(trx, {
      accountId: reservation.account_id,
      type: 'charge',
      amountMicros: -charge,
      holdMicros: -charge,
      reservationId,
      referenceId: reservation.reference_id,
      description: description || `charged for ${reservation.reference_id}`,
    });
  }
  if (release > 0n) {
    await postLedgerEntry(trx, {
      accountId: reservation.account_id,
      type: 'release',
      holdMicros: -release,
      reservationId,
      referenceId: reservation.reference_id,
      description: `released unused reservation for ${reservation.reference_id}`,
    });
  }
  await trx
    .updateTable('reservations')
    .set({ status: 'settled', charged_micros: charge, released_micros: release, settled_at: new Date() })
    .where('id', '=', reservationId)
    .execute();
  return { chargedMicros: charge, releasedMicros: release, applied: true };
}
