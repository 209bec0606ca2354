import { InvalidInputError } from '../errors.js';
import type { Listing, Page } from '../paging/listing.js';

/** The arguments the relay plugin gives every `t.connection` field. */
export interface ConnectionArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/**
 * A Relay connection (the relay plugin's `t.connection` types) over one page of a domain
 * listing: the one way GraphQL pages. The service checks `first` and `after` with the
 * listing (src/paging/listing.ts), exactly as for REST, so a bad size or cursor is the same
 * INVALID_INPUT on both. Lists page forwards only; `last`/`before` are refused by name
 * rather than answered with an empty page.
 *
 * Why not the plugin's resolveCursorConnection: it wants the fetch to over-read one row and
 * decides hasNextPage itself, while our services page for REST and GraphQL alike and
 * return `hasNextPage` with the page.
 */
export async function listingConnection<T>(
  listing: Listing<T, unknown>,
  args: ConnectionArgs,
  fetch: (page: { first: number | null; after: string | null }) => Promise<Page<T>>,
) {
  if (args.last != null) throw new InvalidInputError('last', 'lists page forwards only: use first and after');
  if (args.before != null) throw new InvalidInputError('before', 'lists page forwards only: use first and after');
  const after = args.after ?? null;
  const page = await fetch({ first: args.first ?? null, after });
  const edges = page.items.map((node) => ({ cursor: listing.cursorOf(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: after !== null,
      startCursor: edges[0]?.cursor ?? after,
      endCursor: edges.at(-1)?.cursor ?? after,
    },
  };
}
