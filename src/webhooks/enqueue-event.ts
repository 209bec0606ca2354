import { sql } from 'kysely';
import type { Queryable } from '../db/connect.js';
import { channels } from '../db/notifier.js';
import { newId } from '../ids.js';
import { defaultEventTypes } from './event-types.js';
import type { WebhookEventType } from './event-types.js';
import { MAX_ATTEMPTS } from './retry-schedule.js';

/** A training event to announce (docs/webhooks.md). */
export interface WebhookEvent {
  type: WebhookEventType;
  accountId: string;
  /** The body's `data` member: at least { jobId, status }. */
  data: Record<string, unknown>;
  /** The job's own `webhookUrl`, signed with the account's default secret. */
  jobWebhookUrl?: string | null;
  occurredAt?: Date;
}

/**
 * Writes one event to the outbox in the caller's transaction, in one statement: the
 * message (its id is the `webhook-id`, its payload the exact body) and one delivery row per
 * target — every enabled endpoint of the account subscribed to the type, plus the job's
 * own URL for status events — and a NOTIFY that wakes the senders when the transaction
 * commits; a rollback takes it all back. Writes nothing when there is no target.
 *
 * One round trip, because it runs inside the caller's status-change transaction (on PGlite
 * every statement also holds up every other one). Delivery ids are made in SQL so the
 * endpoints need not be read first: the id's time part from here, then 16 random
 * characters from md5 (hex digits are in the id alphabet; ids still sort by time).
 *
 * The NOTIFY payload names the endpoints that got deliveries (`*` when a job URL did, or
 * when there are many), so a sender whose share for those endpoints is full need not look:
 * a flood of events for one endpoint would otherwise cost one empty claim each.
 *
 * Never throws for a bad URL (that would roll back the job's status change): a URL that
 * cannot work fails at delivery, where the attempt records why.
 *
 * Returns the message id, or null when nothing was written.
 */
export async function enqueueEvent(trx: Queryable, event: WebhookEvent): Promise<string | null> {
  const occurredAt = event.occurredAt ?? new Date();
  const messageId = newId('webhookMessage');
  const deliveryIdPrefix = newId('webhookDelivery').slice(0, -16);
  const payload = JSON.stringify({ type: event.type, timestamp: occurredAt.toISOString(), data: event.data });
  const jobId = typeof event.data.jobId === 'string' ? event.data.jobId : null;
  const jobUrl = event.jobWebhookUrl && defaultEventTypes.includes(event.type) ? event.jobWebhookUrl : null;
  const { rows } = await sql<{ notified: unknown }>`
    with targets as (
      select e.id as endpoint_id, null::text as url
      from webhook_endpoints e
      where e.account_id = ${event.accountId} and e.enabled and ${event.type}::text = any(e.events)
      union all
      select null::text, ${jobUrl}::text where ${jobUrl}::text is not null
    ),
    message as (
      insert into webhook_messages (id, account_id, event_type, job_id, payload)
      select ${messageId}, ${event.accountId}, ${event.type}, ${jobId}::text, ${payload}
      where exists (select 1 from targets)
      returning id
    ),
    deliveries as (
      insert into webhook_deliveries (id, message_id, account_id, endpoint_id, url, max_attempts)
      select ${deliveryIdPrefix} || substr(md5(random()::text || coalesce(t.endpoint_id, t.url)), 1, 16),
        message.id, ${event.accountId}, t.endpoint_id, t.url, ${MAX_ATTEMPTS}::integer
      from message, targets t
      returning endpoint_id
    )
    select pg_notify(${channels.webhooks},
      case when bool_or(endpoint_id is null) or count(*) > 100 then '*' else string_agg(endpoint_id, ',') end) as notified
    from deliveries
    having count(*) > 0`.execute(trx);
  return rows.length > 0 ? messageId : null;
}
