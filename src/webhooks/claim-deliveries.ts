import { sql } from 'kysely';
import type { Db } from '../db/connect.js';

/** A delivery claimed for one attempt, with everything needed to send it. */
export interface ClaimedDelivery {
  id: string;
  messageId: string;
  endpointId: string | null;
  /** This attempt's number (1-based): `attempts` after the claim bumped it. */
  attempt: number;
  maxAttempts: number;
  /** Where to send: the endpoint's current URL, or the job's own URL. */
  url: string;
  /** False when the endpoint was disabled after the delivery was queued. */
  endpointEnabled: boolean;
  /** Secrets to sign with: the endpoint's (and its previous one, within 24 h of a rotation), or the account's default. */
  secrets: string[];
  payload: string;
  /** The endpoint's format: the body sent is derived from `payload` for `openai` (src/webhooks/openai-format.ts). */
  format: 'tuneloop' | 'openai';
}

export interface ClaimOptions {
  owner: string;
  limit: number;
  leaseSeconds: number;
  /** Endpoints this process already has enough in flight for (fairness: one slow receiver cannot take every slot). */
  skipEndpoints: readonly string[];
}

export interface ClaimResult {
  claimed: ClaimedDelivery[];
  /**
   * Milliseconds until a row not claimed now could be claimed (0: one is due but was
   * locked by another sender's claim), or null when nothing else is pending: the next due
   * delivery, or the next lease to expire (its sender died, or reports back before then).
   */
  nextDueMs: number | null;
  /** The same, for endpoints other than those of the claimed rows (and job URLs). */
  otherDueMs: number | null;
}

/**
 * Claims up to `limit` due deliveries in one statement: picks them in due order with
 * `FOR UPDATE SKIP LOCKED` (so concurrent senders in other processes take different rows),
 * stamps a lease and bumps `attempts`. A sender that dies loses its lease after
 * `leaseSeconds` and another one takes the row again: at-least-once, never at-most-once.
 *
 * The claim also moves `next_attempt_at` to the lease's end — when the row is due again if
 * its sender dies — so rows in flight leave the front of the due index: claims do not walk
 * past them, and the next-due time below covers expired leases too. (Before this a claim
 * slowed with every row in flight: docs/PERFORMANCE.md, "Why the code is shaped so".)
 *
 * The same round trip says when to look again, so an idle sender sleeps exactly until
 * the next retry is due (one statement per wake-up, not two: on PGlite every statement
 * waits for the one before).
 */
export async function claimDeliveries(db: Db, opts: ClaimOptions): Promise<ClaimResult> {
  const skip = sql.val(opts.skipEndpoints);
  const { rows } = await sql<{
    id: string | null;
    message_id: string;
    endpoint_id: string | null;
    attempts: number;
    max_attempts: number;
    url: string;
    endpoint_enabled: boolean;
    secrets: string[];
    payload: string;
    format: string;
    next_due_ms: number | string | null;
    other_due_ms: number | string | null;
  }>`
    with picked as (
      select id, message_id, endpoint_id, account_id
      from webhook_deliveries
      where status = 'pending'
        and next_attempt_at <= now()
        and (lease_expires_at is null or lease_expires_at < now())
        and (endpoint_id is null or not (endpoint_id = any(${skip}::text[])))
      order by next_attempt_at
      limit ${opts.limit}
      for update skip locked
    ),
    claimed as (
      update webhook_deliveries d
      set attempts = d.attempts + 1,
          lease_owner = ${opts.owner},
          lease_expires_at = now() + make_interval(secs => ${opts.leaseSeconds}::float8),
          next_attempt_at = now() + make_interval(secs => ${opts.leaseSeconds}::float8),
          updated_at = now()
      from picked
        join webhook_messages m on m.id = picked.message_id
        join accounts a on a.id = picked.account_id
        left join webhook_endpoints e on e.id = picked.endpoint_id
      where d.id = picked.id
      returning d.id, d.message_id, d.endpoint_id, d.attempts, d.max_attempts,
        coalesce(e.url, d.url) as url,
        coalesce(e.enabled, true) as endpoint_enabled,
        case
          when picked.endpoint_id is null and a.previous_webhook_secret is not null and a.previous_webhook_secret_expires_at > now()
            then array[a.webhook_secret, a.previous_webhook_secret]
          when picked.endpoint_id is null then array[a.webhook_secret]
          when e.previous_secret is not null and e.previous_secret_expires_at > now() then array[e.secret, e.previous_secret]
          else array[e.secret]
        end as secrets,
        m.payload,
        coalesce(e.format, 'tuneloop') as format
    ),
    next_due as (
      select (
        select next_attempt_at from webhook_deliveries
        where status = 'pending'
          and (endpoint_id is null or not (endpoint_id = any(${skip}::text[])))
          and id not in (select id from picked)
        order by next_attempt_at
        limit 1
      ) as at,
      (
        select next_attempt_at from webhook_deliveries
        where status = 'pending'
          and (endpoint_id is null or not (endpoint_id = any(${skip}::text[])))
          and (endpoint_id is null or endpoint_id not in (select endpoint_id from picked where endpoint_id is not null))
          and id not in (select id from picked)
        order by next_attempt_at
        limit 1
      ) as other_at
    )
    select claimed.*,
      (extract(epoch from (next_due.at - now())) * 1000)::float8 as next_due_ms,
      (extract(epoch from (next_due.other_at - now())) * 1000)::float8 as other_due_ms
    from next_due left join claimed on true`.execute(db);
  const ms = (value: number | string | null | undefined) => (value == null ? null : Math.max(0, Number(value)));
  return {
    claimed: rows
      .filter((r) => r.id !== null)
      .map((r) => ({
        id: r.id!,
        messageId: r.message_id,
        endpointId: r.endpoint_id,
        attempt: r.attempts,
        maxAttempts: r.max_attempts,
        url: r.url,
        endpointEnabled: r.endpoint_enabled,
        secrets: r.secrets,
        payload: r.payload,
        format: r.format === 'openai' ? ('openai' as const) : ('tuneloop' as const),
      })),
    nextDueMs: ms(rows[0]?.next_due_ms),
    otherDueMs: ms(rows[0]?.other_due_ms),
  };
}
