import { Type } from 'typebox';
import type { Http } from '../http.js';
import { caller } from '../http.js';
import type { Services } from '../../services.js';
import type { WebhookDelivery, WebhookEndpoint } from '../../webhooks/service.js';
import { webhookEventTypes } from '../../webhooks/event-types.js';
import { DateTime, IdParam, problemResponses } from '../schemas.js';
import { pageJson, pageQuery, pageSchema } from '../pages.js';
import { webhookDeliveryListing, webhookEndpointListing } from '../../webhooks/listings.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

const WebhookEndpointSchema = Type.Object(
  {
    id: Type.String({ examples: ['whep_01jd…'] }),
    object: Type.Literal('webhook_endpoint'),
    url: Type.String(),
    description: Type.String(),
    events: Type.Array(Type.String(), { description: `Event types it receives: ${webhookEventTypes.join(', ')}` }),
    format: Type.Union([Type.Literal('tuneloop'), Type.Literal('openai')], {
      description: "The body and event names it receives: ours, or OpenAI's fine-tuning events (docs/webhooks.md)",
    }),
    enabled: Type.Boolean(),
    disabledReason: Nullable(Type.Union([Type.Literal('GONE'), Type.Literal('DISABLED')])),
    previousSecretExpiresAt: Nullable(DateTime),
    createdAt: DateTime,
    updatedAt: DateTime,
  },
  { $id: 'WebhookEndpoint' },
);

const WebhookEndpointWithSecretSchema = Type.Object(
  {
    ...WebhookEndpointSchema.properties,
    secret: Type.String({ description: 'The signing secret (whsec_…). Shown only in this response: store it now.' }),
  },
  { $id: 'WebhookEndpointWithSecret' },
);

const WebhookAttemptSchema = Type.Object({
  attempt: Type.Integer(),
  url: Type.String(),
  startedAt: DateTime,
  latencyMs: Type.Integer(),
  statusCode: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  responseSnippet: Nullable(Type.String()),
});

const WebhookDeliverySchema = Type.Object(
  {
    id: Type.String({ examples: ['whdl_01jd…'] }),
    object: Type.Literal('webhook_delivery'),
    messageId: Type.String({ description: 'The webhook-id header: the same on every attempt.' }),
    eventType: Type.String(),
    jobId: Nullable(Type.String()),
    endpointId: Nullable(Type.String({ description: 'null for a job’s own webhookUrl' })),
    url: Type.String(),
    status: Type.Union([Type.Literal('PENDING'), Type.Literal('SUCCEEDED'), Type.Literal('FAILED')]),
    attemptCount: Type.Integer(),
    maxAttempts: Type.Integer(),
    nextAttemptAt: Nullable(DateTime),
    lastStatusCode: Nullable(Type.Integer()),
    lastError: Nullable(Type.String()),
    deliveredAt: Nullable(DateTime),
    createdAt: DateTime,
    body: Type.String({ description: 'The exact JSON body that is signed and sent.' }),
    attempts: Type.Array(WebhookAttemptSchema),
  },
  { $id: 'WebhookDelivery' },
);

const EventsBody = Type.Array(Type.String({ maxLength: 100 }), { maxItems: 20 });

const iso = (date: Date | null) => (date ? date.toISOString() : null);

function endpointJson(e: WebhookEndpoint) {
  return {
    id: e.id,
    object: 'webhook_endpoint' as const,
    url: e.url,
    description: e.description,
    events: e.events,
    format: e.format,
    enabled: e.enabled,
    disabledReason: e.disabledReason,
    previousSecretExpiresAt: iso(e.previousSecretExpiresAt),
    createdAt: e.createdAt.toISOString(),
    updatedAt: e.updatedAt.toISOString(),
  };
}

function deliveryJson(d: WebhookDelivery) {
  return {
    id: d.id,
    object: 'webhook_delivery' as const,
    messageId: d.messageId,
    eventType: d.eventType,
    jobId: d.jobId,
    endpointId: d.endpointId,
    url: d.url,
    status: d.status,
    attemptCount: d.attemptCount,
    maxAttempts: d.maxAttempts,
    nextAttemptAt: iso(d.nextAttemptAt),
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    deliveredAt: iso(d.deliveredAt),
    createdAt: d.createdAt.toISOString(),
    body: d.payload,
    attempts: d.attempts.map((a) => ({ ...a, startedAt: a.startedAt.toISOString() })),
  };
}

/** REST routes under /api/webhooks: endpoints, their secrets, deliveries and redelivery. */
export function registerWebhookRoutes(app: Http, services: Services): void {
  const webhooks = services.webhooks;
  app.addSchema(WebhookEndpointSchema);
  app.addSchema(WebhookEndpointWithSecretSchema);
  app.addSchema(WebhookDeliverySchema);
  const tags = ['webhooks'];

  app.get(
    '/api/webhooks',
    {
      schema: {
        tags,
        summary: 'List your webhook endpoints, oldest first',
        querystring: Type.Object(pageQuery(webhookEndpointListing)),
        response: { 200: pageSchema(Type.Ref('WebhookEndpoint')), ...problemResponses },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const result = await webhooks.listEndpoints(caller(request).accountId, { first: limit ?? null, after: after ?? null });
      return pageJson(webhookEndpointListing, result, after, endpointJson);
    },
  );

  app.post(
    '/api/webhooks',
    {
      schema: {
        tags,
        summary: 'Register a webhook endpoint; the response carries its secret, shown this once',
        body: Type.Object(
          {
            url: Type.String({ maxLength: 4096, description: 'An http(s) URL on a public address' }),
            events: Type.Optional(EventsBody),
            description: Type.Optional(Type.String({ maxLength: 1000 })),
            format: Type.Optional(
              Type.Union([Type.Literal('tuneloop'), Type.Literal('openai')], {
                description:
                  "tuneloop (default) or openai: OpenAI's event names (fine_tuning.job.succeeded|failed|cancelled) and body, verified by the openai SDK's webhooks.unwrap()",
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Ref('WebhookEndpointWithSecret'), 409: Type.Ref('Problem'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const { endpoint, secret } = await webhooks.createEndpoint(caller(request).accountId, request.body);
      reply.status(201);
      return { ...endpointJson(endpoint), secret };
    },
  );

  app.get(
    '/api/webhooks/secret',
    {
      schema: {
        tags,
        summary: 'The account’s default secret, which signs the webhooks sent to a job’s own webhookUrl',
        response: {
          200: Type.Object({ object: Type.Literal('webhook_secret'), secret: Type.String({ description: 'whsec_…' }) }),
          ...problemResponses,
        },
      },
    },
    async (request) => ({ object: 'webhook_secret' as const, secret: await webhooks.defaultSecret(caller(request).accountId) }),
  );

  app.post(
    '/api/webhooks/secret/rotate',
    {
      schema: {
        tags,
        summary: 'Replace the account’s default secret; for 24 hours job webhooks carry a signature for each secret',
        response: {
          200: Type.Object({
            object: Type.Literal('webhook_secret'),
            secret: Type.String({ description: 'The new secret (whsec_…)' }),
            previousSecretExpiresAt: Type.String({ format: 'date-time', description: 'Until then the previous secret signs too' }),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const { secret, previousSecretExpiresAt } = await webhooks.rotateDefaultSecret(caller(request).accountId);
      return { object: 'webhook_secret' as const, secret, previousSecretExpiresAt: previousSecretExpiresAt.toISOString() };
    },
  );

  app.get(
    '/api/webhooks/deliveries',
    {
      schema: {
        tags,
        summary: 'List webhook deliveries with their attempts, newest first',
        querystring: Type.Object({
          endpointId: Type.Optional(Type.String({ maxLength: 200 })),
          jobId: Type.Optional(Type.String({ maxLength: 200 })),
          status: Type.Optional(Type.Union([Type.Literal('PENDING'), Type.Literal('SUCCEEDED'), Type.Literal('FAILED')])),
          ...pageQuery(webhookDeliveryListing),
        }),
        response: { 200: pageSchema(Type.Ref('WebhookDelivery')), ...problemResponses },
      },
    },
    async (request) => {
      const q = request.query;
      const result = await webhooks.listDeliveries(caller(request).accountId, {
        endpointId: q.endpointId ?? null,
        jobId: q.jobId ?? null,
        status: q.status ?? null,
        first: q.limit ?? null,
        after: q.after ?? null,
      });
      return pageJson(webhookDeliveryListing, result, q.after, deliveryJson);
    },
  );

  app.get(
    '/api/webhooks/deliveries/:id',
    {
      schema: {
        tags,
        summary: 'One webhook delivery with its attempts',
        params: IdParam,
        response: { 200: Type.Ref('WebhookDelivery'), ...problemResponses },
      },
    },
    async (request) => deliveryJson(await webhooks.getDelivery(caller(request).accountId, request.params.id)),
  );

  app.post(
    '/api/webhooks/deliveries/:id/redeliver',
    {
      schema: {
        tags,
        summary: 'Send a delivery again, with the same webhook-id',
        params: IdParam,
        response: { 202: Type.Ref('WebhookDelivery'), 409: Type.Ref('Problem'), ...problemResponses },
      },
    },
    async (request, reply) => {
      const delivery = await webhooks.redeliver(caller(request).accountId, request.params.id);
      reply.status(202);
      return deliveryJson(delivery);
    },
  );

  app.get(
    '/api/webhooks/:id',
    {
      schema: {
        tags,
        summary: 'One webhook endpoint',
        params: IdParam,
        response: { 200: Type.Ref('WebhookEndpoint'), ...problemResponses },
      },
    },
    async (request) => endpointJson(await webhooks.getEndpoint(caller(request).accountId, request.params.id)),
  );

  app.patch(
    '/api/webhooks/:id',
    {
      schema: {
        tags,
        summary: 'Change an endpoint’s url, events, description or enabled state; omitted fields stay',
        params: IdParam,
        body: Type.Object(
          {
            url: Type.Optional(Type.String({ maxLength: 4096 })),
            events: Type.Optional(EventsBody),
            description: Type.Optional(Type.String({ maxLength: 1000 })),
            enabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('WebhookEndpoint'), ...problemResponses },
      },
    },
    async (request) => endpointJson(await webhooks.updateEndpoint(caller(request).accountId, request.params.id, request.body)),
  );

  app.delete(
    '/api/webhooks/:id',
    {
      schema: {
        tags,
        summary: 'Delete an endpoint with its queued deliveries and history',
        params: IdParam,
        response: { 204: Type.Null(), ...problemResponses },
      },
    },
    async (request, reply) => {
      await webhooks.deleteEndpoint(caller(request).accountId, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/webhooks/:id/rotate-secret',
    {
      schema: {
        tags,
        summary: 'Replace the signing secret; for 24 hours webhooks carry a signature for each secret',
        params: IdParam,
        response: { 200: Type.Ref('WebhookEndpointWithSecret'), ...problemResponses },
      },
    },
    async (request) => {
      const { endpoint, secret } = await webhooks.rotateSecret(caller(request).accountId, request.params.id);
      return { ...endpointJson(endpoint), secret };
    },
  );
}
