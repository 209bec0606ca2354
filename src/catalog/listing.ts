import type { Model } from '../db/schema.js';
import { defineListing, parseTime } from '../paging/listing.js';

/** The models an account can see, oldest first (by creation time, then id). */
export const modelListing = defineListing<Model, { createdAt: Date; id: string }>({
  name: 'models',
  defaultSize: 100,
  maxSize: 200,
  key: (model) => ({ createdAt: model.created_at, id: model.id }),
  partsOf: ({ createdAt, id }) => [createdAt.toISOString(), id],
  parseKey: ([at, id, ...rest]) => {
    const createdAt = parseTime(at);
    return createdAt && id && id.length <= 200 && rest.length === 0 ? { createdAt, id } : undefined;
  },
});
