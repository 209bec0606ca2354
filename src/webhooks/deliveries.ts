import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import { notifyOnCommit } from '../db/connect.js';
import { channels } from '../db/notifier.js';
import { DomainError, NotFoundError } from '../errors.js';
import { attemptView, statusView } from './views.js';
import { webhookDeliveryListing } from './listings.js';
import type { DeliveryStatus, Page, WebhookAttempt, WebhookDelivery } from './views.js';
import { fetchPage } from '../paging/listing.js';

export interface DeliveryFilter {
  endpointId?: string | null;
  jobId?: string | null;
  status?: DeliveryStatus | null;
  first?: number | null;
  /** A cursor of webhookDeliveryListing. */
  after?: string | null;
}

/** Deliveries of an account, newest first (ids sort by creation), each with its attempts. */
export async function listDeliveries(db: Db, accountId: string, filter: DeliveryFilter = {}): Promise<Page<WebhookDelivery>> {
  const { first, after } = webhookDeliveryListing.request(filter);
  let query = selectDeliveries(db).where('d.account_id', '=', accountId).orderBy('d.id', 'desc');
  if (filter.endpointId) query = query.where('d.endpoint_id', '=', filter.endpointId);
  if (filter.jobId) query = query.where('m.job_id', '=', filter.jobId);
  if (filter.status) query = query.where('d.status', '=', filter.status.toLowerCase() as 'pending');
  if (after) query = query.where('d.id', '<', after);
  const page = await fetchPage(query, first);
  const attempts = await attemptsOf(
    db,
    page.items.map((r) => r.id),
  );
  return { items: page.items.map((r) => deliveryView(r, attempts.get(r.id) ?? [])), hasNextPage: page.hasNextPage };
}

/** One delivery with its attempts; another account's is NOT_FOUND. */
export async function getDelivery(db: Db, accountId: string, id: string): Promise<WebhookDelivery> {
  const row = await selectDeliveries(db).where('d.account_id', '=', accountId).where('d.id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError('webhook delivery', id);
  const attempts = await attemptsOf(db, [row.id]);
  return deliveryView(row, attempts.get(row.id) ?? []);
}

/**
 * Sends a delivery again with the same `webhook-id`. A finished one gets exactly one more
 * attempt (it is not put back on the whole retry schedule); a pending one is moved to now;
 * one in flight is left alone. An endpoint that is disabled must be enabled first.
 */
export async function redeliver(db: Db, accountId: string, id: string): Promise<WebhookDelivery> {
  await db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('webhook_deliveries as d')
      .leftJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
      .select([
        'd.id',
        'd.status',
        'd.endpoint_id',
        'e.enabled',
        sql<boolean>`d.lease_expires_at is not null and d.lease_expires_at > now()`.as('in_flight'),
      ])
      .where('d.account_id', '=', accountId)
      .where('d.id', '=', id)
      .forUpdate('d')
      .executeTakeFirst();
    if (!row) throw new NotFoundError('webhook delivery', id);
    if (row.endpoint_id && !row.enabled) {
      throw new DomainError('ENDPOINT_DISABLED', `webhook endpoint ${row.endpoint_id} is disabled: enable it, then redeliver`, 409, {
        endpointId: row.endpoint_id,
      });
    }
    if (row.status === 'pending' && row.in_flight) return;
    await trx
      .updateTable('webhook_deliveries')
      .set({
        status: 'pending',
        next_attempt_at: sql<Date>`now()`,
        max_attempts: row.status === 'pending' ? sql<number>`max_attempts` : sql<number>`attempts + 1`,
        updated_at: new Date(),
      })
      .where('id', '=', id)
      .execute();
    await notifyOnCommit(trx, channels.webhooks, '*');
  });
  return getDelivery(db, accountId, id);
}

function selectDeliveries(db: Db) {
  return db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_messages as m', 'm.id', 'd.message_id')
    .leftJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
    .select([
      'd.id',
      'd.message_id',
      'd.endpoint_id',
      'd.status',
      'd.attempts',
      'd.max_attempts',
      'd.next_attempt_at',
      'd.last_status_code',
      'd.last_error',
      'd.delivered_at',
      'd.created_at',
      'm.event_type',
      'm.job_id',
      'm.payload',
      sql<string>`coalesce(e.url, d.url)`.as('url'),
    ]);
}

type DeliveryRow = Awaited<ReturnType<ReturnType<typeof selectDeliveries>['executeTakeFirstOrThrow']>>;

async function attemptsOf(db: Db, ids: string[]): Promise<Map<string, WebhookAttempt[]>> {
  const out = new Map<string, WebhookAttempt[]>();
  if (ids.length === 0) return out;
  const rows = await db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('delivery_id', 'in', ids)
    .orderBy('delivery_id')
    .orderBy('attempt')
    .execute();
  for (const row of rows) {
    let list = out.get(row.delivery_id);
    if (!list) out.set(row.delivery_id, (list = []));
    list.push(attemptView(row));
  }
  return out;
}

function deliveryView(row: DeliveryRow, attempts: WebhookAttempt[]): WebhookDelivery {
  return {
    id: row.id,
    messageId: row.message_id,
    eventType: row.event_type,
    jobId: row.job_id,
    endpointId: row.endpoint_id,
    url: row.url,
    status: statusView(row.status),
    attemptCount: row.attempts,
    maxAttempts: row.max_attempts,
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: row.delivered_at,
    createdAt: row.created_at,
    payload: row.payload,
    attempts,
  };
}
