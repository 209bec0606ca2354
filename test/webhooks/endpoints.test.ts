import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql } from '../helpers/clients.js';
import {
  CreateWebhookEndpointDocument,
  DeleteWebhookEndpointDocument,
  NodeByIdDocument,
  RedeliverWebhookDocument,
  RotateWebhookEndpointSecretDocument,
  UpdateWebhookEndpointDocument,
  WebhookDeliveriesDocument,
  WebhookEndpointDocument,
  WebhookEndpointsDocument,
} from '../generated/graphql.js';
import { startReceiver } from '../helpers/webhook-receiver.js';
import { emit, fakeJobId, rest } from '../helpers/webhook-events.js';

/**
 * Endpoint management over REST and GraphQL, validation errors, tenancy, and the address
 * policy with its default (private addresses refused). Registered URLs are public IP
 * literals (no DNS needed); no event is ever sent to them.
 */
describe.each(engines())('webhook endpoints (%s)', (engine) => {
  let t: TestApp;
  let alice: { accountId: string; apiKey: string };
  let bob: { accountId: string; apiKey: string };

  beforeAll(async () => {
    t = await startTestApp(engine, { config: { webhookAllowPrivate: false, webhookRetryFactor: 0.001, webhookTimeoutMs: 400 } });
    alice = await t.account('alice');
    bob = await t.account('bob');
  });
  afterAll(async () => t?.stop());

  it('REST: create (secret shown once), get, list, update, rotate, delete', async () => {
    const created = await rest(t, alice.apiKey, 'POST', '/api/webhooks', {
      url: 'https://93.184.215.14/tuneloop',
      events: ['training.completed', 'training.failed'],
      description: 'prod listener',
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      object: 'webhook_endpoint',
      url: 'https://93.184.215.14/tuneloop',
      events: ['training.completed', 'training.failed'],
      description: 'prod listener',
      enabled: true,
      disabledReason: null,
      previousSecretExpiresAt: null,
    });
    expect(created.json.id).toMatch(/^whep_/);
    expect(created.json.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{44}$/);
    const id = created.json.id as string;

    const got = await rest(t, alice.apiKey, 'GET', `/api/webhooks/${id}`);
    expect(got.status).toBe(200);
    expect(got.json.secret).toBeUndefined();
    expect(got.json.events).toEqual(['training.completed', 'training.failed']);

    const defaults = await rest(t, alice.apiKey, 'POST', '/api/webhooks', { url: 'http://8.8.8.8:8080/hook' });
    expect(defaults.json.events).toEqual(['training.started', 'training.completed', 'training.failed', 'training.cancelled']);

    const listed = await rest(t, alice.apiKey, 'GET', '/api/webhooks?limit=1');
    expect(listed.json).toMatchObject({ object: 'list', hasMore: true });
    expect(listed.json.data.map((e: { id: string }) => e.id)).toEqual([id]);
    const next = await rest(t, alice.apiKey, 'GET', `/api/webhooks?limit=1&after=${listed.json.nextCursor}`);
    expect(next.json.data.map((e: { id: string }) => e.id)).toEqual([defaults.json.id]);
    expect(next.json.data[0].secret).toBeUndefined();

    const updated = await rest(t, alice.apiKey, 'PATCH', `/api/webhooks/${id}`, {
      url: 'https://93.184.215.14/v2',
      events: ['training.checkpoint'],
      enabled: false,
    });
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({
      url: 'https://93.184.215.14/v2',
      events: ['training.checkpoint'],
      enabled: false,
      disabledReason: 'DISABLED',
      description: 'prod listener',
    });

    const rotated = await rest(t, alice.apiKey, 'POST', `/api/webhooks/${id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.json.secret).toMatch(/^whsec_/);
    expect(rotated.json.secret).not.toBe(created.json.secret);
    expect(Date.parse(rotated.json.previousSecretExpiresAt)).toBeGreaterThan(Date.now() + 23 * 3_600_000);

    const deleted = await rest(t, alice.apiKey, 'DELETE', `/api/webhooks/${id}`);
    expect(deleted.status).toBe(204);
    const gone = await rest(t, alice.apiKey, 'GET', `/api/webhooks/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.contentType).toContain('application/problem+json');
    expect(gone.json.code).toBe('NOT_FOUND');
    await rest(t, alice.apiKey, 'DELETE', `/api/webhooks/${defaults.json.id}`);
  });

  it.each([
    ['ftp scheme', { url: 'ftp://93.184.215.14/x' }, 'INVALID_WEBHOOK_URL', 'url'],
    ['not a URL', { url: 'not a url' }, 'INVALID_WEBHOOK_URL', 'url'],
    ['unknown event type', { url: 'https://93.184.215.14/', events: ['training.exploded'] }, 'INVALID_EVENT_TYPE', 'events'],
    ['empty event list', { url: 'https://93.184.215.14/', events: [] }, 'INVALID_INPUT', 'events'],
    ['loopback address', { url: 'http://127.0.0.1:9000/hook' }, 'WEBHOOK_URL_NOT_ALLOWED', 'url'],
    ['localhost by name', { url: 'http://localhost:9000/hook' }, 'WEBHOOK_URL_NOT_ALLOWED', 'url'],
    ['private address', { url: 'https://10.1.2.3/hook' }, 'WEBHOOK_URL_NOT_ALLOWED', 'url'],
    ['IPv6 loopback', { url: 'http://[::1]:9000/' }, 'WEBHOOK_URL_NOT_ALLOWED', 'url'],
    ['cloud metadata', { url: 'http://169.254.169.254/latest/meta-data/' }, 'WEBHOOK_URL_NOT_ALLOWED', 'url'],
    ['loopback in decimal', { url: 'http://2130706433/' }, 'WEBHOOK_URL_NOT_ALLOWED', 'url'],
    ['IPv4-mapped IPv6', { url: 'http://[::ffff:192.168.0.1]/' }, 'WEBHOOK_URL_NOT_ALLOWED', 'url'],
  ])('refuses %s with a coded error on REST and GraphQL, writing nothing', async (_label, input, code, field) => {
    const before = (await rest(t, alice.apiKey, 'GET', '/api/webhooks')).json.data.length;
    const response = await rest(t, alice.apiKey, 'POST', '/api/webhooks', input);
    expect(response.status).toBe(400);
    expect(response.contentType).toContain('application/problem+json');
    expect(response.json).toMatchObject({ code, field });

    const result = await gql(t.url, alice.apiKey, CreateWebhookEndpointDocument, { input });
    const payload = result.data!.createWebhookEndpoint;
    expect(payload.endpoint).toBeNull();
    expect(payload.secret).toBeNull();
    expect(payload.errors).toHaveLength(1);
    expect(payload.errors[0]).toMatchObject({ code, field });
    expect((await rest(t, alice.apiKey, 'GET', '/api/webhooks')).json.data).toHaveLength(before);
  });

  it('REST: request-shape errors are problem+json with codes', async () => {
    const missing = await rest(t, alice.apiKey, 'POST', '/api/webhooks', { events: ['training.failed'] });
    expect(missing.status).toBe(400);
    expect(missing.json.code).toBe('INVALID_REQUEST');
    const extra = await rest(t, alice.apiKey, 'POST', '/api/webhooks', { url: 'https://93.184.215.14/', secret: 'mine' });
    expect(extra.status).toBe(400);
    expect(extra.json.code).toBe('INVALID_REQUEST');
    const unauthenticated = await fetch(`${t.url}/api/webhooks`);
    expect(unauthenticated.status).toBe(401);
  });

  it('GraphQL: create, read (also as a Node), list, update, rotate, delete', async () => {
    const created = await gql(t.url, alice.apiKey, CreateWebhookEndpointDocument, {
      input: { url: 'https://93.184.215.14/gql', events: ['training.completed'], description: 'from GraphQL' },
    });
    const payload = created.data!.createWebhookEndpoint;
    expect(payload.errors).toEqual([]);
    expect(payload.secret).toMatch(/^whsec_/);
    const id = payload.endpoint!.id;
    expect(id).toMatch(/^whep_/);

    expect((await gql(t.url, alice.apiKey, WebhookEndpointDocument, { id })).data!.webhookEndpoint).toMatchObject({
      id,
      url: 'https://93.184.215.14/gql',
      events: ['training.completed'],
      description: 'from GraphQL',
      enabled: true,
    });
    expect((await gql(t.url, alice.apiKey, NodeByIdDocument, { id })).data!.node).toEqual({ id, __typename: 'WebhookEndpoint' });
    const listed = await gql(t.url, alice.apiKey, WebhookEndpointsDocument, { first: 50 });
    expect(listed.data!.webhookEndpoints.edges.map((e) => e.node.id)).toContain(id);

    const updated = await gql(t.url, alice.apiKey, UpdateWebhookEndpointDocument, {
      input: { id, events: ['training.failed', 'training.cancelled'], description: 'renamed' },
    });
    expect(updated.data!.updateWebhookEndpoint.errors).toEqual([]);
    expect(updated.data!.updateWebhookEndpoint.endpoint).toMatchObject({
      events: ['training.failed', 'training.cancelled'],
      description: 'renamed',
      url: 'https://93.184.215.14/gql',
    });

    const invalid = await gql(t.url, alice.apiKey, UpdateWebhookEndpointDocument, { input: { id, url: 'http://192.168.1.10/' } });
    expect(invalid.data!.updateWebhookEndpoint.errors[0]).toMatchObject({ code: 'WEBHOOK_URL_NOT_ALLOWED', field: 'url' });
    expect((await gql(t.url, alice.apiKey, WebhookEndpointDocument, { id })).data!.webhookEndpoint!.url).toBe('https://93.184.215.14/gql');

    const rotated = await gql(t.url, alice.apiKey, RotateWebhookEndpointSecretDocument, { input: { id } });
    expect(rotated.data!.rotateWebhookEndpointSecret.secret).not.toBe(payload.secret);

    const deleted = await gql(t.url, alice.apiKey, DeleteWebhookEndpointDocument, { input: { id } });
    expect(deleted.data!.deleteWebhookEndpoint).toEqual({ deletedId: id, errors: [] });
    expect((await gql(t.url, alice.apiKey, WebhookEndpointDocument, { id })).data!.webhookEndpoint).toBeNull();
    const again = await gql(t.url, alice.apiKey, DeleteWebhookEndpointDocument, { input: { id } });
    expect(again.data!.deleteWebhookEndpoint.errors[0]!.code).toBe('NOT_FOUND');
  });

  it("another account's endpoint and deliveries answer exactly like missing ones", async () => {
    // Subscribed to checkpoints only: the failed event below goes to the job URL alone.
    const created = await rest(t, alice.apiKey, 'POST', '/api/webhooks', {
      url: 'https://93.184.215.14/alice',
      events: ['training.checkpoint'],
    });
    const id = created.json.id as string;
    // A delivery of alice's (to a loopback job URL: refused at delivery, see below).
    const jobId = fakeJobId();
    await emit(t, alice.accountId, 'training.failed', { jobId, status: 'FAILED' }, 'http://127.0.0.1:1/never');
    const aliceDeliveries = (await rest(t, alice.apiKey, 'GET', `/api/webhooks/deliveries?jobId=${jobId}`)).json.data;
    expect(aliceDeliveries).toHaveLength(1);
    const deliveryId = aliceDeliveries[0].id as string;

    const missingEndpoint = await rest(t, bob.apiKey, 'GET', '/api/webhooks/whep_00000000000000000000000000');
    for (const [method, path, body] of [
      ['GET', `/api/webhooks/${id}`],
      ['PATCH', `/api/webhooks/${id}`, { description: 'mine now' }],
      ['DELETE', `/api/webhooks/${id}`],
      ['POST', `/api/webhooks/${id}/rotate-secret`],
      ['GET', `/api/webhooks/deliveries?endpointId=${id}`],
      ['GET', `/api/webhooks/deliveries/${deliveryId}`],
      ['POST', `/api/webhooks/deliveries/${deliveryId}/redeliver`],
    ] as Array<[string, string, unknown?]>) {
      const response = await rest(t, bob.apiKey, method, path, body);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.json.code).toBe('NOT_FOUND');
      expect(Object.keys(response.json).sort()).toEqual(Object.keys(missingEndpoint.json).sort());
    }
    expect((await rest(t, bob.apiKey, 'GET', '/api/webhooks')).json.data).toEqual([]);
    expect((await rest(t, bob.apiKey, 'GET', '/api/webhooks/deliveries')).json.data).toEqual([]);

    expect((await gql(t.url, bob.apiKey, WebhookEndpointDocument, { id })).data!.webhookEndpoint).toBeNull();
    expect((await gql(t.url, bob.apiKey, NodeByIdDocument, { id })).data!.node).toBeNull();
    const update = await gql(t.url, bob.apiKey, UpdateWebhookEndpointDocument, { input: { id, description: 'x' } });
    expect(update.data!.updateWebhookEndpoint.errors[0]!.code).toBe('NOT_FOUND');
    const redeliver = await gql(t.url, bob.apiKey, RedeliverWebhookDocument, { input: { deliveryId } });
    expect(redeliver.data!.redeliverWebhook.errors[0]!.code).toBe('NOT_FOUND');
    expect((await gql(t.url, bob.apiKey, WebhookDeliveriesDocument, {})).data!.webhookDeliveries.edges).toEqual([]);
    // Alice's endpoint is untouched.
    expect((await rest(t, alice.apiKey, 'GET', `/api/webhooks/${id}`)).json.description).toBe('');
  });

  it('refuses private addresses at delivery too (a job URL, or DNS that changed), without the setting', async () => {
    const receiver = await startReceiver();
    try {
      const { accountId, apiKey } = await t.account('carol');
      const literal = fakeJobId();
      const byName = fakeJobId();
      await emit(t, accountId, 'training.completed', { jobId: literal, status: 'SUCCEEDED' }, `${receiver.url}/literal`);
      await emit(
        t,
        accountId,
        'training.completed',
        { jobId: byName, status: 'SUCCEEDED' },
        `${receiver.url.replace('127.0.0.1', 'localhost')}/name`,
      );
      // An endpoint registered on a public name whose DNS now answers loopback is the same
      // case as `localhost` here: the check runs in the connection's own lookup.
      const deadline = Date.now() + 10_000;
      let listed: Array<Record<string, any>> = [];
      while (Date.now() < deadline) {
        listed = (await rest(t, apiKey, 'GET', '/api/webhooks/deliveries')).json.data;
        if (listed.length === 2 && listed.every((d) => d.attemptCount >= 2)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(listed).toHaveLength(2);
      for (const d of listed) {
        expect(d.status).toBe('PENDING');
        expect(d.attempts[0].statusCode).toBeNull();
        expect(d.attempts[0].error).toMatch(/^refused to connect: .*loopback/);
      }
      expect(listed.find((d) => d.jobId === byName)!.attempts[0].error).toContain('localhost resolves to');
      expect(receiver.received).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });
});
