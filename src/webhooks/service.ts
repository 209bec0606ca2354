import os from 'node:os';
import { sql } from 'kysely';
import type { Queryable } from '../db/connect.js';
import type { WebhookEndpointsTable } from '../db/tables/webhooks.js';
import type { Updateable } from 'kysely';
import { DomainError, InvalidInputError, NotFoundError } from '../errors.js';
import { newId, randomToken } from '../ids.js';
import type { Runner, Roles } from '../runner.js';
import type { ServiceDeps } from '../service-deps.js';
import { createDeliveryRunner } from './delivery-runner.js';
import { getDelivery, listDeliveries, redeliver } from './deliveries.js';
import type { DeliveryFilter } from './deliveries.js';
import { enqueueEvent } from './enqueue-event.js';
import type { WebhookEvent } from './enqueue-event.js';
import { parseEventTypes } from './event-types.js';
import { disableEndpoint } from './record-attempt.js';
import { newWebhookSecret } from './signing.js';
import { checkWebhookUrl } from './url-policy.js';
import { endpointView } from './views.js';
import type { Page, WebhookDelivery, WebhookEndpoint } from './views.js';
import { createWebhookSender } from './webhook-sender.js';
import { webhookEndpointListing } from './listings.js';
import { fetchPage } from '../paging/listing.js';
import type { WebhookEventType } from './event-types.js';
import { checkEventsForFormat, openAiEventTypes, parseWebhookFormat } from './openai-format.js';

export type { WebhookEvent } from './enqueue-event.js';
export type { WebhookEventType } from './event-types.js';
export type { DeliveryStatus, Page, WebhookAttempt, WebhookDelivery, WebhookEndpoint } from './views.js';
export type { DeliveryFilter } from './deliveries.js';

export interface CreateEndpointInput {
  url: string;
  /** Event types to receive; omitted = the four status events (not checkpoints). */
  events?: readonly string[] | null;
  description?: string | null;
  /** `tuneloop` (default) or `openai`: OpenAI's event names and body (src/webhooks/openai-format.ts). Set at creation. */
  format?: string | null;
}

export interface UpdateEndpointInput {
  url?: string | null;
  events?: readonly string[] | null;
  description?: string | null;
  /** false stops deliveries (queued ones fail); true re-enables one disabled by a 410 too. */
  enabled?: boolean | null;
}

export interface WebhooksService {
  /**
   * Writes the event to the outbox in the caller's transaction (the same one as the job's
   * status change), so a crash can never drop it. Never throws for a bad `jobWebhookUrl`.
   */
  enqueue(trx: Queryable, event: WebhookEvent): Promise<void>;
  /**
   * Validates a webhook URL against the policy (http(s); public addresses unless the
   * operator allows private ones) and returns it normalised. Training calls it for a job's
   * `webhookUrl` before the job is created, with `field: 'webhookUrl'`.
   */
  checkUrl(url: string, field?: string): Promise<string>;
  /** The account's default secret: signs every job's own `webhookUrl` callbacks. */
  defaultSecret(accountId: string): Promise<string>;
  /** A new default secret; the old one keeps signing (a second signature) for 24 h. */
  rotateDefaultSecret(accountId: string): Promise<{ secret: string; previousSecretExpiresAt: Date }>;

  createEndpoint(accountId: string, input: CreateEndpointInput): Promise<{ endpoint: WebhookEndpoint; secret: string }>;
  /** Oldest first; `after` is a cursor of webhookEndpointListing. */
  listEndpoints(accountId: string, opts?: { first?: number | null; after?: string | null }): Promise<Page<WebhookEndpoint>>;
  getEndpoint(accountId: string, id: string): Promise<WebhookEndpoint>;
  findEndpoint(accountId: string, id: string): Promise<WebhookEndpoint | null>;
  updateEndpoint(accountId: string, id: string, input: UpdateEndpointInput): Promise<WebhookEndpoint>;
  deleteEndpoint(accountId: string, id: string): Promise<void>;
  /** A new secret; the old one keeps signing (a second signature) for 24 h. */
  rotateSecret(accountId: string, id: string): Promise<{ endpoint: WebhookEndpoint; secret: string }>;

  listDeliveries(accountId: string, filter?: DeliveryFilter): Promise<Page<WebhookDelivery>>;
  getDelivery(accountId: string, id: string): Promise<WebhookDelivery>;
  redeliver(accountId: string, deliveryId: string): Promise<WebhookDelivery>;

  runners(roles: Roles): Runner[];
  close(): Promise<void>;
}

const MAX_ENDPOINTS_PER_ACCOUNT = 50;
const MAX_DESCRIPTION = 500;
/** Finished messages (and their delivery history) are kept this long. */
const MESSAGE_RETENTION_DAYS = 30;
const ROTATION_OVERLAP = sql<Date>`now() + interval '24 hours'`;

/**
 * Webhooks: account endpoints, per-job URLs, the outbox and its delivery. Transports call
 * the CRUD; the training lifecycle calls `enqueue` inside its status-change transactions;
 * every process (api and worker) runs one delivery runner.
 */
export function createWebhooksService(deps: ServiceDeps): WebhooksService {
  const { db, config, notifier, log, accounts } = deps;
  const allowPrivate = config.webhookAllowPrivate;
  const sender = createWebhookSender({ timeoutMs: config.webhookTimeoutMs, allowPrivate, maxSockets: 96 });
  let runner: Runner | undefined;

  const checkUrl = async (url: string, field = 'url') => (await checkWebhookUrl(url, { allowPrivate, field })).toString();

  const description = (value: string | null | undefined): string => {
    const text = (value ?? '').trim();
    if (text.length > MAX_DESCRIPTION)
      throw new InvalidInputError('description', `description must be at most ${MAX_DESCRIPTION} characters`);
    return text;
  };

  const findEndpoint = async (accountId: string, id: string) => {
    const row = await db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? endpointView(row) : null;
  };

  const getEndpoint = async (accountId: string, id: string) => {
    const endpoint = await findEndpoint(accountId, id);
    if (!endpoint) throw new NotFoundError('webhook endpoint', id);
    return endpoint;
  };

  return {
    async enqueue(trx, event) {
      await enqueueEvent(trx, event);
    },

    checkUrl,

    async defaultSecret(accountId) {
      return (await accounts.getAccount(accountId)).webhook_secret;
    },

    async rotateDefaultSecret(accountId) {
      const secret = newWebhookSecret();
      const row = await db
        .updateTable('accounts')
        .set({
          previous_webhook_secret: sql<string>`webhook_secret`,
          previous_webhook_secret_expires_at: ROTATION_OVERLAP,
          webhook_secret: secret,
        })
        .where('id', '=', accountId)
        .returning('previous_webhook_secret_expires_at')
        .executeTakeFirst();
      if (!row?.previous_webhook_secret_expires_at) throw new NotFoundError('account', accountId);
      log.info({ accountId }, 'account webhook secret rotated');
      return { secret, previousSecretExpiresAt: row.previous_webhook_secret_expires_at };
    },

    async createEndpoint(accountId, input) {
      const url = await checkUrl(input.url);
      const format = parseWebhookFormat(input.format);
      const events = input.events == null && format === 'openai' ? [...openAiEventTypes] : parseEventTypes(input.events);
      checkEventsForFormat(format, events);
      const text = description(input.description);
      const secret = newWebhookSecret();
      const row = await db.transaction().execute(async (trx) => {
        // Serialise creations per account so the limit holds under concurrent requests.
        await trx.selectFrom('accounts').select('id').where('id', '=', accountId).forUpdate().executeTakeFirstOrThrow();
        const { count } = await trx
          .selectFrom('webhook_endpoints')
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .where('account_id', '=', accountId)
          .executeTakeFirstOrThrow();
        if (Number(count) >= MAX_ENDPOINTS_PER_ACCOUNT) {
          throw new DomainError(
            'WEBHOOK_ENDPOINT_LIMIT',
            `an account can have at most ${MAX_ENDPOINTS_PER_ACCOUNT} webhook endpoints`,
            409,
          );
        }
        return trx
          .insertInto('webhook_endpoints')
          .values({ id: newId('webhookEndpoint'), account_id: accountId, url, description: text, events, format, secret })
          .returningAll()
          .executeTakeFirstOrThrow();
      });
      log.info({ endpointId: row.id, accountId, events }, 'webhook endpoint created');
      return { endpoint: endpointView(row), secret };
    },

    async listEndpoints(accountId, opts = {}) {
      const { first, after } = webhookEndpointListing.request(opts);
      let query = db.selectFrom('webhook_endpoints').selectAll().where('account_id', '=', accountId).orderBy('id');
      if (after) query = query.where('id', '>', after);
      const page = await fetchPage(query, first);
      return { items: page.items.map(endpointView), hasNextPage: page.hasNextPage };
    },

    getEndpoint,
    findEndpoint,

    async updateEndpoint(accountId, id, input) {
      const patch: Updateable<WebhookEndpointsTable> = {};
      if (input.url != null) patch.url = await checkUrl(input.url);
      if (input.events != null) patch.events = parseEventTypes(input.events);
      if (input.description != null) patch.description = description(input.description);
      if (input.enabled === true) Object.assign(patch, { enabled: true, disabled_reason: null });
      await db.transaction().execute(async (trx) => {
        const current = await trx
          .selectFrom('webhook_endpoints')
          .select(['id', 'enabled', 'format'])
          .where('account_id', '=', accountId)
          .where('id', '=', id)
          .forUpdate()
          .executeTakeFirst();
        if (!current) throw new NotFoundError('webhook endpoint', id);
        if (patch.events) checkEventsForFormat(parseWebhookFormat(current.format), patch.events as WebhookEventType[]);
        await trx
          .updateTable('webhook_endpoints')
          .set({ ...patch, updated_at: new Date() })
          .where('id', '=', id)
          .execute();
        if (input.enabled === false && current.enabled) await disableEndpoint(trx, id, 'disabled');
      });
      return getEndpoint(accountId, id);
    },

    async deleteEndpoint(accountId, id) {
      const deleted = await db.deleteFrom('webhook_endpoints').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      if (!deleted.numDeletedRows) throw new NotFoundError('webhook endpoint', id);
      log.info({ endpointId: id, accountId }, 'webhook endpoint deleted');
    },

    async rotateSecret(accountId, id) {
      const secret = newWebhookSecret();
      const row = await db
        .updateTable('webhook_endpoints')
        .set({
          previous_secret: sql<string>`secret`,
          previous_secret_expires_at: ROTATION_OVERLAP,
          secret,
          updated_at: new Date(),
        })
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw new NotFoundError('webhook endpoint', id);
      log.info({ endpointId: id, accountId }, 'webhook endpoint secret rotated');
      return { endpoint: endpointView(row), secret };
    },

    async listDeliveries(accountId, filter = {}) {
      if (filter.endpointId) await getEndpoint(accountId, filter.endpointId);
      return listDeliveries(db, accountId, filter);
    },

    getDelivery: (accountId, id) => getDelivery(db, accountId, id),
    redeliver: (accountId, id) => redeliver(db, accountId, id),

    runners(roles) {
      if (!roles.api && !roles.worker) return [];
      runner ??= createDeliveryRunner({
        db,
        notifier,
        log,
        sender,
        owner: `${os.hostname()}:${process.pid}:${randomToken(6)}`,
        retryFactor: config.webhookRetryFactor,
        leaseSeconds: Math.ceil(config.webhookTimeoutMs / 1000) + 30,
        concurrency: 256,
        perEndpoint: 64,
        pollMs: 5_000,
        retentionDays: MESSAGE_RETENTION_DAYS,
        paceClaims: !config.databaseUrl,
      });
      return [runner];
    },

    async close() {
      sender.close();
    },
  };
}
