import { sql } from 'kysely';
import { expect } from 'vitest';
import type { Db } from '../../src/db/connect.js';

/**
 * The money invariants, checked after every billing scenario:
 * - an account's balance is the sum of its ledger amounts, its reserved amount the sum of
 *   its ledger holds, and the latter equals what its open reservations still hold;
 * - a settled reservation was charged + released exactly its amount;
 * - no account's available balance is negative.
 */
export async function expectLedgerConsistent(db: Db): Promise<void> {
  const accounts = await sql<{ id: string; balance: bigint; reserved: bigint; sum_amount: bigint; sum_hold: bigint; open_hold: bigint }>`
    select a.id, a.balance_micros as balance, a.reserved_micros as reserved,
           coalesce((select sum(amount_micros) from ledger_entries l where l.account_id = a.id), 0)::bigint as sum_amount,
           coalesce((select sum(hold_micros) from ledger_entries l where l.account_id = a.id), 0)::bigint as sum_hold,
           coalesce((select sum(amount_micros - charged_micros - released_micros) from reservations r
                      where r.account_id = a.id and r.status = 'open'), 0)::bigint as open_hold
      from accounts a`.execute(db);
  for (const a of accounts.rows) {
    expect({ id: a.id, balance: a.balance, reserved: a.reserved }).toEqual({ id: a.id, balance: a.sum_amount, reserved: a.sum_hold });
    expect(a.open_hold).toBe(a.reserved);
    expect(a.balance - a.reserved).toBeGreaterThanOrEqual(0n);
  }
  const settled = await sql<{ id: string; ok: boolean }>`
    select id, (charged_micros + released_micros = amount_micros) as ok from reservations where status = 'settled'`.execute(db);
  for (const r of settled.rows) expect(r, `reservation ${r.id}`).toMatchObject({ ok: true });
}
