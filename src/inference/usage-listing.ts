import type { InferenceUsage } from '../db/tables/inference.js';
import { isUsageId } from '../ids.js';
import { defineListing, parseTime } from '../paging/listing.js';
import type { UsageCursor } from './store/usage.js';

/** An account's inference requests, newest first by when they finished. */
export const usageListing = defineListing<InferenceUsage, UsageCursor>({
  name: 'inferenceUsage',
  defaultSize: 50,
  maxSize: 500,
  key: (usage) => ({ finishedAt: usage.finished_at, id: usage.id }),
  partsOf: ({ finishedAt, id }) => [finishedAt.toISOString(), id],
  parseKey: ([at, id, ...rest]) => {
    const finishedAt = parseTime(at);
    return finishedAt && id !== undefined && rest.length === 0 && isUsageId(id) ? { finishedAt, id } : undefined;
  },
});
