import type { Dataset } from '../db/tables/datasets.js';
import { isId } from '../ids.js';
import { defineListing } from '../paging/listing.js';

/** An account's datasets, newest first (ids sort by creation time). */
export const datasetListing = defineListing<Dataset, string>({
  name: 'datasets',
  defaultSize: 50,
  maxSize: 200,
  keyOf: (dataset) => [dataset.id],
  parseKey: ([id, ...rest]) => (id !== undefined && rest.length === 0 && isId('dataset', id) ? id : undefined),
});
