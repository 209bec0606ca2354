import { builder, principalOf } from '../builder.js';
import { ErrorInterface, payload } from '../errors.js';
import { listingConnection } from '../connection.js';
import type { ConnectionArgs } from '../connection.js';
import { webhookDeliveryListing, webhookEndpointListing } from '../../webhooks/listings.js';
import type { ListedError } from '../errors.js';
import { AccountRef } from './account.js';
import type { DomainError } from '../../errors.js';
import { webhookEventTypes } from '../../webhooks/event-types.js';
import type { WebhookAttempt, WebhookDelivery, WebhookEndpoint } from '../../webhooks/service.js';

export const WebhookEndpointRef = builder.objectRef<WebhookEndpoint>('WebhookEndpoint');
const WebhookDeliveryRef = builder.objectRef<WebhookDelivery>('WebhookDelivery');
const WebhookAttemptRef = builder.objectRef<WebhookAttempt>('WebhookAttempt');

const WebhookDeliveryStatus = builder.enumType('WebhookDeliveryStatus', {
  description:
    'PENDING: queued or waiting for a retry. SUCCEEDED: a 2xx answer. FAILED: gave up (attempts used up, 410 Gone, endpoint disabled).',
  values: ['PENDING', 'SUCCEEDED', 'FAILED'] as const,
});

const WebhookEndpointDisabledReason = builder.enumType('WebhookEndpointDisabledReason', {
  description: 'GONE: the endpoint answered 410 Gone. DISABLED: its owner disabled it.',
  values: ['GONE', 'DISABLED'] as const,
});

const WebhookFormatEnum = builder.enumType('WebhookFormat', {
  description: 'The body and event names an endpoint receives (docs/webhooks.md).',
  values: {
    TUNELOOP: { description: 'Our event names (training.completed, …) and body.' },
    OPENAI: {
      description:
        "OpenAI's fine-tuning events (fine_tuning.job.succeeded|failed|cancelled) and body, verified by the openai SDK's webhooks.unwrap().",
    },
  } as const,
});

builder.node(WebhookEndpointRef, {
  description:
    'A URL that receives signed webhooks (Standard Webhooks) for the events it names. Its secret is shown once, when it is created or rotated.',
  id: { resolve: (endpoint) => endpoint.id },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'previousSecretExpiresAt' in value,
  loadOne: (id, ctx) => (ctx.principal ? ctx.services.webhooks.findEndpoint(ctx.principal.accountId, id) : null),
  fields: (t) => ({
    url: t.exposeString('url'),
    description: t.exposeString('description'),
    events: t.exposeStringList('events', { description: 'Event types it receives, e.g. training.completed.' }),
    format: t.field({ type: WebhookFormatEnum, resolve: (e) => (e.format === 'openai' ? 'OPENAI' : 'TUNELOOP') }),
    enabled: t.exposeBoolean('enabled'),
    disabledReason: t.field({ type: WebhookEndpointDisabledReason, nullable: true, resolve: (e) => e.disabledReason }),
    previousSecretExpiresAt: t.expose('previousSecretExpiresAt', {
      type: 'DateTime',
      nullable: true,
      description: 'After a rotation the previous secret signs too (a second signature) until then.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    deliveries: t.connection({
      type: WebhookDeliveryRef,
      description: 'Deliveries to this endpoint, newest first.',
      args: { status: t.arg({ type: WebhookDeliveryStatus }) },
      resolve: (endpoint, args, ctx) =>
        deliveriesConnection(ctx, args, { endpointId: endpoint.id, status: args.status ?? null, jobId: null }),
    }),
  }),
});

WebhookAttemptRef.implement({
  description: 'One HTTP attempt of a delivery.',
  fields: (t) => ({
    attempt: t.exposeInt('attempt', { description: '1 for the first attempt.' }),
    url: t.exposeString('url'),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    latencyMs: t.exposeInt('latencyMs'),
    statusCode: t.exposeInt('statusCode', { nullable: true, description: 'null when no response arrived (see error).' }),
    error: t.exposeString('error', {
      nullable: true,
      description: 'Why the attempt failed: a timeout, a refused connection, a non-2xx status.',
    }),
    responseSnippet: t.exposeString('responseSnippet', {
      nullable: true,
      description: 'The start of the response body (1,000 characters at most).',
    }),
  }),
});

WebhookDeliveryRef.implement({
  description: 'One event sent to one target (an endpoint, or a job’s own webhookUrl), with its attempts.',
  fields: (t) => ({
    id: t.exposeID('id'),
    messageId: t.exposeString('messageId', { description: 'The webhook-id header: the same on every attempt.' }),
    eventType: t.exposeString('eventType'),
    jobId: t.exposeID('jobId', { nullable: true }),
    endpoint: t.field({
      type: WebhookEndpointRef,
      nullable: true,
      description: 'null for a job’s own webhookUrl.',
      resolve: (d, _args, ctx) => (d.endpointId ? ctx.services.webhooks.findEndpoint(principalOf(ctx).accountId, d.endpointId) : null),
    }),
    url: t.exposeString('url'),
    status: t.field({ type: WebhookDeliveryStatus, resolve: (d) => d.status }),
    attemptCount: t.exposeInt('attemptCount'),
    maxAttempts: t.exposeInt('maxAttempts'),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    body: t.exposeString('payload', { description: 'The exact JSON body that is signed and sent.' }),
    attempts: t.field({ type: [WebhookAttemptRef], resolve: (d) => d.attempts }),
  }),
});

function deliveriesConnection(
  ctx: Parameters<typeof principalOf>[0],
  args: ConnectionArgs,
  filter: { endpointId: string | null; jobId: string | null; status: WebhookDelivery['status'] | null },
) {
  return listingConnection(webhookDeliveryListing, args, (page) =>
    ctx.services.webhooks.listDeliveries(principalOf(ctx).accountId, { ...filter, ...page }),
  );
}

builder.objectFields(AccountRef, (t) => ({
  webhookSecret: t.exposeString('webhook_secret', {
    description: 'Signs the webhooks sent to a job’s own webhookUrl (Standard Webhooks, whsec_…). Endpoints have their own secrets.',
  }),
  previousWebhookSecretExpiresAt: t.field({
    type: 'DateTime',
    nullable: true,
    description:
      'After `rotateAccountWebhookSecret`: until then the previous secret signs too (a second signature). Null when no previous secret signs.',
    resolve: (a) =>
      a.previous_webhook_secret_expires_at && a.previous_webhook_secret_expires_at.getTime() > Date.now()
        ? a.previous_webhook_secret_expires_at
        : null,
  }),
}));

const RotateAccountWebhookSecretPayload = builder
  .objectRef<Errors & { secret?: string; previousSecretExpiresAt?: Date }>('RotateAccountWebhookSecretPayload')
  .implement({
    description: 'The account’s new default secret; the previous one keeps signing job webhooks for 24 hours.',
    fields: (t) => ({
      secret: t.string({ nullable: true, description: 'The new secret (whsec_…).', resolve: (p) => p.secret ?? null }),
      previousSecretExpiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.previousSecretExpiresAt ?? null }),
      errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
    }),
  });

builder.queryFields((t) => ({
  webhookEventTypes: t.stringList({
    description: 'Every event type an endpoint can subscribe to.',
    resolve: () => [...webhookEventTypes],
  }),
  webhookEndpoint: t.field({
    type: WebhookEndpointRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.webhooks.findEndpoint(principalOf(ctx).accountId, args.id),
  }),
  webhookEndpoints: t.connection({
    type: WebhookEndpointRef,
    description: 'Your webhook endpoints, oldest first.',
    resolve: (_root, args, ctx) =>
      listingConnection(webhookEndpointListing, args, (page) => ctx.services.webhooks.listEndpoints(principalOf(ctx).accountId, page)),
  }),
  webhookDeliveries: t.connection({
    type: WebhookDeliveryRef,
    description: 'Webhook deliveries with their attempts, newest first; filter by endpoint, job or status.',
    args: {
      endpointId: t.arg.id(),
      jobId: t.arg.id(),
      status: t.arg({ type: WebhookDeliveryStatus }),
    },
    resolve: (_root, args, ctx) =>
      deliveriesConnection(ctx, args, { endpointId: args.endpointId ?? null, jobId: args.jobId ?? null, status: args.status ?? null }),
  }),
  webhookDelivery: t.field({
    type: WebhookDeliveryRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) =>
      ctx.services.webhooks.getDelivery(principalOf(ctx).accountId, args.id).catch((err: DomainError) => {
        if (err.code === 'NOT_FOUND') return null;
        throw err;
      }),
  }),
}));

const CreateWebhookEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  fields: (t) => ({
    url: t.string({ required: true, description: 'An http(s) URL on a public address.' }),
    events: t.stringList({ description: 'Event types to receive (see webhookEventTypes); default: every status event, no checkpoints.' }),
    description: t.string(),
    format: t.field({
      type: WebhookFormatEnum,
      description: "TUNELOOP (default) or OPENAI: OpenAI's fine-tuning event names and body. Set at creation.",
    }),
  }),
});

const UpdateWebhookEndpointInput = builder.inputType('UpdateWebhookEndpointInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    url: t.string(),
    events: t.stringList(),
    description: t.string(),
    enabled: t.boolean({ description: 'false stops deliveries (queued ones fail); true re-enables, also after a 410.' }),
  }),
});

const WebhookEndpointIdInput = (name: string) => builder.inputType(name, { fields: (t) => ({ id: t.id({ required: true }) }) });
const DeleteWebhookEndpointInput = WebhookEndpointIdInput('DeleteWebhookEndpointInput');
const RotateWebhookEndpointSecretInput = WebhookEndpointIdInput('RotateWebhookEndpointSecretInput');

const RedeliverWebhookInput = builder.inputType('RedeliverWebhookInput', {
  fields: (t) => ({ deliveryId: t.id({ required: true }) }),
});

type Errors = { errors: ListedError[] };

const EndpointWithSecretPayload = (name: string, description: string) =>
  builder.objectRef<Errors & { endpoint?: WebhookEndpoint; secret?: string }>(name).implement({
    description,
    fields: (t) => ({
      endpoint: t.field({ type: WebhookEndpointRef, nullable: true, resolve: (p) => p.endpoint ?? null }),
      secret: t.string({
        nullable: true,
        description: 'The signing secret (whsec_…). Shown only here: store it now.',
        resolve: (p) => p.secret ?? null,
      }),
      errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
    }),
  });

const CreateWebhookEndpointPayload = EndpointWithSecretPayload(
  'CreateWebhookEndpointPayload',
  'The new endpoint and its secret, or errors.',
);
const RotateWebhookEndpointSecretPayload = EndpointWithSecretPayload(
  'RotateWebhookEndpointSecretPayload',
  'The new secret; the previous one keeps signing for 24 hours.',
);

const UpdateWebhookEndpointPayload = builder.objectRef<Errors & { endpoint?: WebhookEndpoint }>('UpdateWebhookEndpointPayload').implement({
  fields: (t) => ({
    endpoint: t.field({ type: WebhookEndpointRef, nullable: true, resolve: (p) => p.endpoint ?? null }),
    errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
  }),
});

const DeleteWebhookEndpointPayload = builder.objectRef<Errors & { deletedId?: string }>('DeleteWebhookEndpointPayload').implement({
  fields: (t) => ({
    deletedId: t.id({ nullable: true, resolve: (p) => p.deletedId ?? null }),
    errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
  }),
});

const RedeliverWebhookPayload = builder.objectRef<Errors & { delivery?: WebhookDelivery }>('RedeliverWebhookPayload').implement({
  fields: (t) => ({
    delivery: t.field({ type: WebhookDeliveryRef, nullable: true, resolve: (p) => p.delivery ?? null }),
    errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
  }),
});

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: CreateWebhookEndpointPayload,
    description: 'Registers a webhook endpoint; the payload carries its secret, shown this once.',
    args: { input: t.arg({ type: CreateWebhookEndpointInput, required: true }) },
    resolve: (_root, { input }, ctx) => payload(() => ctx.services.webhooks.createEndpoint(principalOf(ctx).accountId, input)),
  }),
  updateWebhookEndpoint: t.field({
    type: UpdateWebhookEndpointPayload,
    description: 'Changes an endpoint’s URL, events, description or enabled state; omitted fields stay.',
    args: { input: t.arg({ type: UpdateWebhookEndpointInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      payload(async () => ({ endpoint: await ctx.services.webhooks.updateEndpoint(principalOf(ctx).accountId, input.id, input) })),
  }),
  deleteWebhookEndpoint: t.field({
    type: DeleteWebhookEndpointPayload,
    description: 'Deletes an endpoint with its queued deliveries and their history.',
    args: { input: t.arg({ type: DeleteWebhookEndpointInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      payload(async () => {
        await ctx.services.webhooks.deleteEndpoint(principalOf(ctx).accountId, input.id);
        return { deletedId: input.id };
      }),
  }),
  rotateWebhookEndpointSecret: t.field({
    type: RotateWebhookEndpointSecretPayload,
    description: 'Replaces the signing secret. For 24 hours every webhook carries two signatures, one per secret.',
    args: { input: t.arg({ type: RotateWebhookEndpointSecretInput, required: true }) },
    resolve: (_root, { input }, ctx) => payload(() => ctx.services.webhooks.rotateSecret(principalOf(ctx).accountId, input.id)),
  }),
  rotateAccountWebhookSecret: t.field({
    type: RotateAccountWebhookSecretPayload,
    description:
      'Replaces the account’s default secret (it signs the webhooks sent to a job’s own webhookUrl). For 24 hours those webhooks carry two signatures, one per secret.',
    resolve: (_root, _args, ctx) => payload(() => ctx.services.webhooks.rotateDefaultSecret(principalOf(ctx).accountId)),
  }),
  redeliverWebhook: t.field({
    type: RedeliverWebhookPayload,
    description: 'Sends a delivery again, with the same webhook-id.',
    args: { input: t.arg({ type: RedeliverWebhookInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      payload(async () => ({ delivery: await ctx.services.webhooks.redeliver(principalOf(ctx).accountId, input.deliveryId) })),
  }),
}));
