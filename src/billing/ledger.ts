import { sql } from 'kysely';
import type { Queryable } from '../db/connect.js';
import type { LedgerEntryType } from '../db/schema.js';
import { InsufficientBalanceError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';

export interface LedgerPosting {
  accountId: string;
  type: LedgerEntryType;
  /** Effect on the balance, micro-USD. */
  amountMicros?: bigint;
  /** Effect on the amount held for open reservations, micro-USD. */
  holdMicros?: bigint;
  reservationId?: string | null;
  referenceId?: string | null;
  description?: string;
}

export interface AccountMoney {
  balanceMicros: bigint;
  reservedMicros: bigint;
  availableMicros: bigint;
}

/**
 * Writes one ledger row and applies it to the account's cached totals, in the caller's
 * transaction. The accounts table's check constraint (balance ≥ reserved) is the last
 * line of defence: a posting that would make the available balance negative fails as
 * INSUFFICIENT_BALANCE instead of committing.
 */
export async function postLedgerEntry(trx: Queryable, posting: LedgerPosting): Promise<AccountMoney> {
  const amount = posting.amountMicros ?? 0n;
  const hold = posting.holdMicros ?? 0n;
  if (amount < 0n || hold > 0n) {
    // Spending or holding money: check against the locked row first, so the caller gets
    // the amounts in its error instead of a failed (and aborted) transaction.
    const money = await readAccountMoney(trx, posting.accountId, true);
    const shortBy = -(money.availableMicros + amount - hold);
    if (shortBy > 0n) throw new InsufficientBalanceError(money.availableMicros + shortBy, money.availableMicros);
  }
  let updated;
  try {
    updated = await trx
      .updateTable('accounts')
      .set({
        balance_micros: sql`balance_micros + ${amount.toString()}::bigint`,
        reserved_micros: sql`reserved_micros + ${hold.toString()}::bigint`,
      })
      .where('id', '=', posting.accountId)
      .returning(['balance_micros', 'reserved_micros'])
      .executeTakeFirst();
  } catch (err) {
    // The check constraint is the last line of defence (the transaction is aborted now).
    if ((err as { code?: string }).code === '23514') throw new InsufficientBalanceError(hold > 0n ? hold : -amount, 0n);
    throw err;
  }
  if (!updated) throw new NotFoundError('account', posting.accountId);
  await trx
    .insertInto('ledger_entries')
    .values({
      id: newId('ledgerEntry'),
      account_id: posting.accountId,
      type: posting.type,
      amount_micros: amount,
      hold_micros: hold,
      reservation_id: posting.reservationId ?? null,
      reference_id: posting.referenceId ?? null,
      description: posting.description ?? '',
    })
    .execute();
  return {
    balanceMicros: updated.balance_micros,
    reservedMicros: updated.reserved_micros,
    availableMicros: updated.balance_micros - updated.reserved_micros,
  };
}

/** Reads an account's money, locking the row when `forUpdate` (use inside a transaction). */
export async function readAccountMoney(trx: Queryable, accountId: string, forUpdate = false): Promise<AccountMoney> {
  let query = trx.selectFrom('accounts').select(['balance_micros', 'reserved_micros']).where('id', '=', accountId);
  if (forUpdate) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (!row) throw new NotFoundError('account', accountId);
  return {
    balanceMicros: row.balance_micros,
    reservedMicros: row.reserved_micros,
    availableMicros: row.balance_micros - row.reserved_micros,
  };
}
