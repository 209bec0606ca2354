import type { LedgerEntry } from '../db/schema.js';
import { defineListing, parseSeq } from '../paging/listing.js';

/** An account's ledger, newest first, by the entries' sequence numbers. */
export const ledgerListing = defineListing<LedgerEntry, bigint>({
  name: 'ledger',
  defaultSize: 50,
  maxSize: 500,
  key: (entry) => BigInt(entry.seq),
  partsOf: (seq) => [String(seq)],
  parseKey: ([seq, ...rest]) => {
    const n = parseSeq(seq);
    return n !== undefined && rest.length === 0 ? BigInt(n) : undefined;
  },
});
