import { sql } from 'kysely';
import type { Db } from '../../db/connect.js';

export type LeaseState = { held: true; cancelRequested: boolean; pauseRequested: boolean } | { held: false };

/**
 * Extends this worker's lease on a running job (the heartbeat). `held: false` means the
 * job is no longer ours — a sweeper re-queued it after our lease lapsed, or it finished —
 * and the worker must stop its trainer at once. The heartbeat also reports a cancel or
 * pause request, in case its NOTIFY was missed.
 */
export async function renewLease(db: Db, jobId: string, workerId: string, leaseSeconds: number): Promise<LeaseState> {
  const row = await db
    .updateTable('training_jobs')
    .set({ lease_expires_at: sql`now() + make_interval(secs => ${leaseSeconds})` })
    .where('id', '=', jobId)
    .where('worker_id', '=', workerId)
    .where('status', '=', 'RUNNING')
    .returning(['cancel_requested_at', 'pause_requested_at'])
    .executeTakeFirst();
  return row
    ? { held: true, cancelRequested: row.cancel_requested_at !== null, pauseRequested: row.pause_requested_at !== null }
    : { held: false };
}
