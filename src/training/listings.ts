import type { TrainingEvent, TrainingJob } from '../db/tables/training.js';
import { isId } from '../ids.js';
import { defineIdListing, defineListing, parseSeq } from '../paging/listing.js';

/** An account's jobs, newest first (ids sort by creation time). */
export const trainingJobListing = defineIdListing<TrainingJob>('trainingJobs', 'trainingJob', { defaultSize: 20, maxSize: 100 });

/**
 * A job's stored events, oldest first. The cursor names the job too: another job's cursor
 * is refused rather than read as a position in this one.
 */
export const trainingEventListing = defineListing<TrainingEvent, { jobId: string; seq: number }>({
  name: 'trainingEvents',
  defaultSize: 100,
  maxSize: 1000,
  key: (event) => ({ jobId: event.job_id, seq: Number(event.seq) }),
  partsOf: ({ jobId, seq }) => [jobId, String(seq)],
  parseKey: ([jobId, seq, ...rest]) => {
    const n = parseSeq(seq);
    return jobId !== undefined && n !== undefined && rest.length === 0 && isId('trainingJob', jobId) ? { jobId, seq: n } : undefined;
  },
});
