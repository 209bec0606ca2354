import { sql } from 'kysely';
import type { Queryable } from '../db/connect.js';
import { channels } from '../db/notifier.js';
import { newId } from '../ids.js';
import { defaultEventTypes } from './event-types.js';
import type { WebhookEventType } from './event-types.js';
import { MAX_ATTEMPTS } from './retry-schedule.js';

/** A training event to announce (CONTRACT "Webhooks"). */
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
 * Writes one event to the outbox in the caller's transaction: the message (its id is the
 * `webhook-id`, its payload the exact body) and one delivery row per target — every
 * enabled endpoint of the account subscribed to the type, plus the job's own URL for
 * status events. NOTIFY wakes the senders when the transaction commits; a rollback takes
 * the event with it. Writes nothing when there is no target.
 *
 * Never throws for a bad URL (that would roll back the job's status change): a URL that
 * cannot work fails at delivery, where the attempt records why.
 *
 * Returns the message id, or null when nothing was written.
 */
export async function enqueueEvent(trx: Queryable, event: WebhookEvent): Promise<string | null> {
  const endpoints = await trx
    .selectFrom('webhook_endpoints')
    .select('id')
    .where('account_id', '=', event.accountId)
    .where('enabled', '=', true)
    .where(sql<boolean>`${event.type} = any(events)`)
    .execute();
  const targets: Array<{ endpoint_id: string | null; url: string | null }> = endpoints.map((e) => ({ endpoint_id: e.id, url: null }));
  if (event.jobWebhookUrl && defaultEventTypes.includes(event.type)) targets.push({ endpoint_id: null, url: event.jobWebhookUrl });
  if (targets.length === 0) return null;

  const occurredAt = event.occurredAt ?? new Date();
  const messageId = newId('webhookMessage');
  const payload = JSON.stringify({ type: event.type, timestamp: occurredAt.toISOString(), data: event.data });
  const jobId = typeof event.data.jobId === 'string' ? event.data.jobId : null;
  // One statement for the message, its deliveries and the wake-up: this runs inside the
  // caller's status-change transaction, so every round trip lengthens it.
  await sql`
    with message as (
      insert into webhook_messages (id, account_id, event_type, job_id, payload)
      values (${messageId}, ${event.accountId}, ${event.type}, ${jobId}, ${payload})
      returning id
    ),
    deliveries as (
      insert into webhook_deliveries (id, message_id, account_id, endpoint_id, url, max_attempts)
      select t.id, message.id, ${event.accountId}, t.endpoint_id, t.url, ${MAX_ATTEMPTS}::integer
      from message, unnest(
        ${sql.val(targets.map(() => newId('webhookDelivery')))}::text[],
        ${sql.val(targets.map((t) => t.endpoint_id))}::text[],
        ${sql.val(targets.map((t) => t.url))}::text[]
      ) as t(id, endpoint_id, url)
      returning 1
    )
    select pg_notify(${channels.webhooks}, ${messageId}) from (select count(*) from deliveries) as inserted`.execute(trx);
  return messageId;
}
