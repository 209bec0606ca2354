import { Type } from 'typebox';
import type { TSchema } from 'typebox';
import type { Listing, Page } from '../paging/listing.js';

/**
 * The query parameters of a REST list: `limit` (1 … the listing's maxSize) and `after`
 * (the `nextCursor` of the previous page). Both are checked again by the listing, so REST
 * and GraphQL refuse the same values.
 */
export function pageQuery(listing: Listing<never, unknown>) {
  return {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: listing.maxSize, default: listing.defaultSize })),
    after: Type.Optional(Type.String({ maxLength: 1000, description: 'nextCursor of the previous page (opaque)' })),
  };
}

/** The body of a REST list page of `item`s. */
export function pageSchema(item: TSchema) {
  return Type.Object({
    object: Type.Literal('list'),
    data: Type.Array(item),
    hasMore: Type.Boolean({ description: 'Whether another page follows now' }),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description:
        'Pass as `after` to continue after this page (on an append-only list such as job events, also to poll for new items later); null when the page is empty and no `after` was given',
    }),
  });
}

/** A REST list page: `{object: "list", data, hasMore, nextCursor}`, the same for every list. */
export function pageJson<T, J>(listing: Listing<T, unknown>, page: Page<T>, after: string | null | undefined, toJson: (item: T) => J) {
  const last = page.items.at(-1);
  return {
    object: 'list' as const,
    data: page.items.map(toJson),
    hasMore: page.hasNextPage,
    nextCursor: last !== undefined ? listing.cursorOf(last) : (after ?? null),
  };
}
