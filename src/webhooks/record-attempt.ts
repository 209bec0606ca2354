import { sql } from 'kysely';
import type { Db, Queryable } from '../db/connect.js';
import type { WebhookAttempt } from './views.js';

/** The outcome of one attempt, decided by the sender loop. */
export interface AttemptRecord extends Omit<WebhookAttempt, 'responseSnippet'> {
  deliveryId: string;
  /** The lease owner that claimed it; a row whose lease was taken over is left alone. */
  owner: string;
  snippet: string | null;
  /** succeeded, failed for good, or pending again after `retryDelayMs`. */
  next: 'succeeded' | 'failed' | 'pending';
  retryDelayMs?: number;
}

/**
 * Stores attempts and moves their deliveries on, in one statement for a whole batch (a
 * busy sender finishes hundreds of attempts a second; one round trip each would make the
 * database the bottleneck, and PGlite runs one statement at a time). Each update applies
 * only while this sender still holds the lease for that attempt number, and its attempt
 * row is inserted from the update's RETURNING, so an attempt that finished after its lease
 * was taken over records nothing. Returns the ids of the deliveries it applied to.
 */
export async function recordAttempts(db: Db, records: readonly AttemptRecord[]): Promise<Set<string>> {
  if (records.length === 0) return new Set();
  const rows = records.map(
    (r) => sql`(${r.deliveryId}::text, ${r.owner}::text, ${r.attempt}::integer, ${r.url}::text, ${r.startedAt}::timestamptz,
      ${r.latencyMs}::integer, ${r.statusCode}::integer, ${r.error}::text, ${r.snippet}::text, ${r.next}::text,
      ${(r.retryDelayMs ?? 0) / 1000}::float8)`,
  );
  const { rows: applied } = await sql<{ delivery_id: string }>`
    with v (delivery_id, owner, attempt, url, started_at, latency_ms, status_code, error, snippet, next, delay_s) as (
      values ${sql.join(rows)}
    ),
    d as (
      update webhook_deliveries w
      set status = v.next,
          next_attempt_at = case when v.next = 'pending' then now() + make_interval(secs => v.delay_s) else w.next_attempt_at end,
          lease_owner = null,
          lease_expires_at = null,
          last_status_code = v.status_code,
          last_error = v.error,
          delivered_at = case when v.next = 'succeeded' then now() else w.delivered_at end,
          updated_at = now()
      from v
      where w.id = v.delivery_id and w.lease_owner = v.owner and w.attempts = v.attempt
      returning w.id
    )
    insert into webhook_attempts (delivery_id, attempt, url, started_at, latency_ms, status_code, error, response_snippet)
    select v.delivery_id, v.attempt, v.url, v.started_at, v.latency_ms, v.status_code, v.error, v.snippet
    from v join d on d.id = v.delivery_id
    on conflict do nothing
    returning delivery_id`.execute(db);
  return new Set(applied.map((r) => r.delivery_id));
}

/**
 * Hands a claimed delivery back without an attempt (shutdown interrupted it): the lease is
 * dropped and the attempt number given back, so another sender sends it at once.
 */
export async function releaseLease(db: Db, deliveryId: string, owner: string): Promise<void> {
  await sql`
    update webhook_deliveries
    set lease_owner = null, lease_expires_at = null, next_attempt_at = now(), attempts = greatest(attempts - 1, 0), updated_at = now()
    where id = ${deliveryId} and lease_owner = ${owner}`.execute(db);
}

/** Ends a claimed delivery as failed without sending it (its endpoint was disabled, or it ran out of attempts). */
export async function failUnsent(db: Db, deliveryId: string, owner: string, reason: string): Promise<void> {
  await sql`
    update webhook_deliveries
    set status = 'failed', lease_owner = null, lease_expires_at = null, attempts = greatest(attempts - 1, 0),
        last_error = ${reason}, updated_at = now()
    where id = ${deliveryId} and lease_owner = ${owner}`.execute(db);
}

/**
 * Disables an endpoint (`gone` after a 410, `disabled` by its owner) and fails its queued
 * deliveries that no sender holds; one in flight fails when it is next claimed. Run it in
 * a transaction: the two updates belong together.
 */
export async function disableEndpoint(trx: Queryable, endpointId: string, reason: 'gone' | 'disabled'): Promise<void> {
  await trx
    .updateTable('webhook_endpoints')
    .set({ enabled: false, disabled_reason: reason, updated_at: new Date() })
    .where('id', '=', endpointId)
    .execute();
  await trx
    .updateTable('webhook_deliveries')
    .set({
      status: 'failed',
      last_error: reason === 'gone' ? 'endpoint disabled: it answered 410 Gone' : 'endpoint disabled by its owner',
      updated_at: new Date(),
    })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'pending')
    .where((eb) => eb.or([eb('lease_owner', 'is', null), eb('lease_expires_at', '<', sql<Date>`now()`)]))
    .execute();
}
