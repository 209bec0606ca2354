import type { Db } from '../db/connect.js';
import type { LedgerEntry } from '../db/schema.js';
import { InvalidInputError, NotFoundError } from '../errors.js';
import { postLedgerEntry } from './ledger.js';
import type { AccountMoney } from './ledger.js';
import { ledgerListing } from './listing.js';
import { fetchPage } from '../paging/listing.js';

export interface LedgerPage {
  entries: LedgerEntry[];
  hasNextPage: boolean;
}

export interface BillingService {
  /** Adds credit through the ledger. */
  topUp(accountId: string, amountMicros: bigint, description?: string): Promise<AccountMoney>;
  /** Admin correction of a balance, positive or negative. */
  adjust(accountId: string, amountMicros: bigint, description: string): Promise<AccountMoney>;
  /** Newest first; `after` is a cursor of ledgerListing. */
  ledger(accountId: string, opts?: { first?: number | null; after?: string | null }): Promise<LedgerPage>;
}

export function createBillingService(deps: { db: Db }): BillingService {
  const { db } = deps;
  return {
    async topUp(accountId, amountMicros, description = 'top-up') {
      if (amountMicros <= 0n) throw new InvalidInputError('amount', 'a top-up must be a positive amount');
      return db.transaction().execute((trx) => postLedgerEntry(trx, { accountId, type: 'topup', amountMicros, description }));
    },

    async adjust(accountId, amountMicros, description) {
      if (amountMicros === 0n) throw new InvalidInputError('amount', 'an adjustment must not be zero');
      if (!description.trim()) throw new InvalidInputError('description', 'say why the balance is adjusted');
      return db.transaction().execute((trx) => postLedgerEntry(trx, { accountId, type: 'adjustment', amountMicros, description }));
    },

    async ledger(accountId, opts = {}) {
      const { first, after } = ledgerListing.request(opts);
      const exists = await db.selectFrom('accounts').select('id').where('id', '=', accountId).executeTakeFirst();
      if (!exists) throw new NotFoundError('account', accountId);
      let query = db.selectFrom('ledger_entries').selectAll().where('account_id', '=', accountId).orderBy('seq', 'desc');
      if (after !== null) query = query.where('seq', '<', after);
      const page = await fetchPage(query, first);
      return { entries: page.items, hasNextPage: page.hasNextPage };
    },
  };
}
