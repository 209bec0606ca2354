import type { Dataset } from '../db/tables/datasets.js';
import { defineIdListing } from '../paging/listing.js';

/** An account's datasets, newest first (ids sort by creation time). */
export const datasetListing = defineIdListing<Dataset>('datasets', 'dataset', { defaultSize: 50, maxSize: 200 });
