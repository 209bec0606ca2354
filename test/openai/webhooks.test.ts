/**
 * Webhook endpoints in OpenAI's format (docs/webhooks.md § OpenAI format): the end of a
 * job arrives under OpenAI's event name with OpenAI's body, signed as every webhook is,
 * and the official `openai` package's `webhooks.unwrap()` verifies and parses it. Our
 * own names stay the default, on the same account at the same time.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { emit, fakeJobId, rest } from '../helpers/webhook-events.js';
import { startReceiver } from '../helpers/webhook-receiver.js';
import type { Receiver } from '../helpers/webhook-receiver.js';

describe.each(engines())('webhooks in OpenAI format (%s)', (engine) => {
  let t: TestApp;
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    t = await startTestApp(engine, { config: { webhookAllowPrivate: true, webhookRetryFactor: 0.001, webhookTimeoutMs: 1_000 } });
  });

  afterAll(async () => {
    for (const r of receivers) await r.down();
    await t?.stop();
  });

  it("sends fine_tuning.job.succeeded|failed|cancelled that the openai SDK's webhooks.unwrap() verifies", async () => {
    const { accountId, apiKey } = await t.account();
    const openAiReceiver = await startReceiver();
    const ourReceiver = await startReceiver();
    receivers.push(openAiReceiver, ourReceiver);
    const created = await rest(t, apiKey, 'POST', '/api/webhooks', { url: `${openAiReceiver.url}/openai`, format: 'openai' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      format: 'openai',
      events: ['training.completed', 'training.failed', 'training.cancelled'],
    });
    const ours = await rest(t, apiKey, 'POST', '/api/webhooks', { url: `${ourReceiver.url}/ours` });
    expect(ours.json.format).toBe('tuneloop');

    const jobId = fakeJobId();
    await emit(t, accountId, 'training.started', { jobId, status: 'RUNNING' });
    await emit(t, accountId, 'training.completed', { jobId, status: 'SUCCEEDED', fineTunedModel: 'ft:tiny:x:1' });
    await emit(t, accountId, 'training.failed', { jobId, status: 'FAILED' });
    await emit(t, accountId, 'training.cancelled', { jobId, status: 'CANCELLED' });
    const got = await openAiReceiver.waitFor((all) => all.length >= 3);
    await ourReceiver.waitFor((all) => all.length >= 4);

    const client = new OpenAI({ apiKey: 'unused', webhookSecret: created.json.secret as string });
    const events = [];
    for (const r of got) {
      const headers = { 'webhook-id': r.id, 'webhook-timestamp': r.timestamp, 'webhook-signature': r.signature };
      const event = await client.webhooks.unwrap(r.body, headers);
      expect(event).toMatchObject({ id: r.id, object: 'event', data: { id: jobId } });
      expect(typeof event.created_at).toBe('number');
      events.push(event.type);
      // A changed body no longer verifies.
      await expect(client.webhooks.unwrap(r.body.replace(jobId, fakeJobId()), headers)).rejects.toThrow(
        OpenAI.InvalidWebhookSignatureError,
      );
    }
    expect(events.sort()).toEqual(['fine_tuning.job.cancelled', 'fine_tuning.job.failed', 'fine_tuning.job.succeeded']);
    // The default endpoint got our own names, training.started included.
    expect(ourReceiver.received.map((r) => r.json.type).sort()).toEqual([
      'training.cancelled',
      'training.completed',
      'training.failed',
      'training.started',
    ]);
  });

  it('refuses events OpenAI has no name for, and an unknown format, on REST and GraphQL', async () => {
    const { apiKey } = await t.account();
    const refused = await rest(t, apiKey, 'POST', '/api/webhooks', {
      url: 'https://example.com/hook',
      format: 'openai',
      events: ['training.started'],
    });
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ code: 'INVALID_EVENT_TYPE', field: 'events' });
    const unknown = await rest(t, apiKey, 'POST', '/api/webhooks', { url: 'https://example.com/hook', format: 'xml' });
    expect(unknown.status).toBe(400);

    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({
        query: `mutation { createWebhookEndpoint(input: {url: "https://example.com/hook", format: OPENAI}) {
          endpoint { id format events } errors { code message } } }`,
      }),
    });
    const viaGraphql = (await response.json()) as { data: any; errors?: unknown };
    expect(viaGraphql.errors).toBeUndefined();
    expect(viaGraphql.data.createWebhookEndpoint.endpoint).toMatchObject({
      format: 'OPENAI',
      events: ['training.completed', 'training.failed', 'training.cancelled'],
    });
    const id = viaGraphql.data.createWebhookEndpoint.endpoint.id as string;
    const patched = await rest(t, apiKey, 'PATCH', `/api/webhooks/${id}`, { events: ['training.checkpoint'] });
    expect(patched.status).toBe(400);
    expect(patched.json.code).toBe('INVALID_EVENT_TYPE');
  });
});
