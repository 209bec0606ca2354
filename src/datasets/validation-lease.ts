import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import type { Dataset } from '../db/tables/datasets.js';

/**
 * A dataset's validation lease lives on its row: `validation_lease_expires_at` (renewed by
 * heartbeat while the validation runs) and `validation_attempts`, bumped by every claim,
 * which is the fencing token — a holder renews and records only while the attempt is
 * still its own, so a process that stalled past its lease cannot overwrite its successor.
 *
 * 15 s, renewed every 5 s: a validation whose process died (kill -9, out of memory, a
 * lost machine) is claimed again by the next sweep after at most ~15 s + one sweep period
 * (5–7 s), instead of the 10 minutes a fixed lease needed; three missed beats in a row
 * (a database outage of > 10 s) hand the work over, which costs a repeated validation,
 * never a wrong result.
 */
export const VALIDATION_LEASE_SECONDS = 15;
export const VALIDATION_HEARTBEAT_MS = 5_000;

/** Claims the validation of a VALIDATING dataset whose lease is free or expired; undefined when another process holds it. */
export function claimValidation(db: Db, id: string): Promise<Dataset | undefined> {
  return db
    .updateTable('datasets')
    .set({
      validation_lease_expires_at: sql`now() + make_interval(secs => ${VALIDATION_LEASE_SECONDS})`,
      validation_attempts: sql`validation_attempts + 1`,
    })
    .where('id', '=', id)
    .where('status', '=', 'VALIDATING')
    .where((eb) => eb.or([eb('validation_lease_expires_at', 'is', null), eb('validation_lease_expires_at', '<', sql<Date>`now()`)]))
    .returningAll()
    .executeTakeFirst();
}

/** Extends the lease of `attempt`; false when the dataset left VALIDATING, was deleted or another attempt holds it. */
export async function renewValidation(db: Db, id: string, attempt: number): Promise<boolean> {
  const row = await db
    .updateTable('datasets')
    .set({ validation_lease_expires_at: sql`now() + make_interval(secs => ${VALIDATION_LEASE_SECONDS})` })
    .where('id', '=', id)
    .where('status', '=', 'VALIDATING')
    .where('validation_attempts', '=', attempt)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Hands a validation back unfinished (the process is stopping): the lease is freed so the
 * next sweep of any process claims it at once, and the attempt is not counted.
 */
export async function releaseValidation(db: Db, id: string, attempt: number): Promise<void> {
  await db
    .updateTable('datasets')
    .set({ validation_lease_expires_at: null, validation_attempts: sql`validation_attempts - 1` })
    .where('id', '=', id)
    .where('status', '=', 'VALIDATING')
    .where('validation_attempts', '=', attempt)
    .execute();
}

/** VALIDATING datasets whose lease is free or expired (oldest first), for the sweeper. */
export async function unclaimedValidations(db: Db, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('datasets')
    .select('id')
    .where('status', '=', 'VALIDATING')
    .where((eb) => eb.or([eb('validation_lease_expires_at', 'is', null), eb('validation_lease_expires_at', '<', sql<Date>`now()`)]))
    .orderBy('created_at')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}
