import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql } from '../helpers/clients.js';
import {
  AccountWebhookSecretDocument,
  RedeliverWebhookDocument,
  RotateAccountWebhookSecretDocument,
  RotateWebhookEndpointSecretDocument,
  WebhookDeliveriesDocument,
} from '../generated/graphql.js';
import { startReceiver, verify } from '../helpers/webhook-receiver.js';
import type { Receiver } from '../helpers/webhook-receiver.js';
import { emit, fakeJobId, rest } from '../helpers/webhook-events.js';
import { pruneMessages } from '../../src/webhooks/prune-messages.js';

/**
 * Delivery against a real receiver on loopback: signatures checked with the
 * `standardwebhooks` verifier, retries, 410, timeouts, outages, rotation. The retry
 * schedule runs at 1/1000 (5 s → 5 ms, 5 min → 300 ms, 30 min → 1.8 s) and the request
 * timeout is 1 s.
 */
describe.each(engines())('webhook delivery (%s)', (engine) => {
  let t: TestApp;
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    t = await startTestApp(engine, { config: { webhookAllowPrivate: true, webhookRetryFactor: 0.001, webhookTimeoutMs: 1_000 } });
  });
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });
  afterAll(async () => t?.stop());

  /** A fresh account with one endpoint on a fresh receiver. */
  async function setup(events?: string[]) {
    const { accountId, apiKey } = await t.account();
    const receiver = await startReceiver();
    receivers.push(receiver);
    const created = await rest(t, apiKey, 'POST', '/api/webhooks', { url: `${receiver.url}/hooks`, ...(events ? { events } : {}) });
    expect(created.status).toBe(201);
    return { accountId, apiKey, receiver, endpointId: created.json.id as string, secret: created.json.secret as string };
  }

  async function deliveries(apiKey: string, query = '') {
    const listed = await rest(t, apiKey, 'GET', `/api/webhooks/deliveries${query}`);
    expect(listed.status).toBe(200);
    return listed.json.data as Array<Record<string, any>>;
  }

  async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (ok(value)) return value;
      if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('delivers training.completed and training.failed, signed, with the contract body and headers', async () => {
    const { accountId, apiKey, receiver, secret } = await setup();
    const jobId = fakeJobId();
    await emit(t, accountId, 'training.completed', { jobId, status: 'SUCCEEDED', fineTunedModel: 'ft:tiny:x:1' });
    await emit(t, accountId, 'training.failed', { jobId, status: 'FAILED', error: { code: 'TRAINER_CRASHED' } });
    const got = await receiver.waitFor((all) => all.length >= 2);

    expect(got.map((r) => r.json.type).sort()).toEqual(['training.completed', 'training.failed']);
    for (const r of got) {
      const body = verify(secret, r) as Body;
      expect(body.data.jobId).toBe(jobId);
      expect(Object.keys(body)).toEqual(['type', 'timestamp', 'data']);
      expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
      expect(r.id).toMatch(/^msg_[0-9a-z]{26}$/);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.path).toBe('/hooks');
    }
    expect(got.find((r) => r.json.type === 'training.completed')!.json.data).toEqual({
      jobId,
      status: 'SUCCEEDED',
      fineTunedModel: 'ft:tiny:x:1',
    });
    expect(got.find((r) => r.json.type === 'training.failed')!.json.data.status).toBe('FAILED');
    // A verifier with another secret refuses them.
    expect(() => verify(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, got[0]!)).toThrow(/signature/i);

    const listed = await until(
      () => deliveries(apiKey, `?jobId=${jobId}`),
      (d) => d.length === 2 && d.every((x) => x.status === 'SUCCEEDED'),
    );
    for (const d of listed) {
      expect(d.attemptCount).toBe(1);
      expect(d.attempts).toHaveLength(1);
      expect(d.attempts[0]).toMatchObject({ attempt: 1, statusCode: 200, error: null, responseSnippet: 'ok' });
      expect(d.attempts[0].latencyMs).toBeGreaterThanOrEqual(0);
      expect(got.map((r) => r.id)).toContain(d.messageId);
    }
  });

  it('sends only the event types an endpoint asked for; checkpoints only on request', async () => {
    const { accountId, receiver } = await setup(['training.failed', 'training.checkpoint']);
    const jobId = fakeJobId();
    await emit(t, accountId, 'training.started', { jobId, status: 'RUNNING' });
    await emit(t, accountId, 'training.checkpoint', { jobId, status: 'RUNNING', step: 10 });
    await emit(t, accountId, 'training.failed', { jobId, status: 'FAILED' });
    await receiver.waitFor((all) => all.length >= 2);
    // training.started (not subscribed) would have come first: give it a moment anyway.
    await new Promise((r) => setTimeout(r, 200));
    expect(receiver.received.map((r) => r.json.type).sort()).toEqual(['training.checkpoint', 'training.failed']);
  });

  it("signs a job's own webhookUrl with the account's default secret, shown on the account", async () => {
    const { accountId, apiKey, receiver } = await setup(['training.failed']);
    const account = await gql(t.url, apiKey, AccountWebhookSecretDocument);
    const accountSecret = account.data!.account.webhookSecret;
    expect(accountSecret).toMatch(/^whsec_/);
    expect(account.data!.webhookEventTypes).toContain('training.checkpoint');
    expect((await rest(t, apiKey, 'GET', '/api/webhooks/secret')).json).toEqual({ object: 'webhook_secret', secret: accountSecret });

    const jobId = fakeJobId();
    const jobUrl = `${receiver.url}/job/${jobId}`;
    await emit(t, accountId, 'training.started', { jobId, status: 'RUNNING' }, jobUrl);
    await emit(t, accountId, 'training.checkpoint', { jobId, status: 'RUNNING', step: 5 }, jobUrl);
    await emit(t, accountId, 'training.completed', { jobId, status: 'SUCCEEDED' }, jobUrl);
    const got = await receiver.waitFor((all) => all.filter((r) => r.path.startsWith('/job/')).length >= 2);
    await new Promise((r) => setTimeout(r, 200));
    const toJob = receiver.received.filter((r) => r.path === `/job/${jobId}`);
    expect(toJob.map((r) => r.json.type).sort()).toEqual(['training.completed', 'training.started']);
    for (const r of toJob) expect((verify(accountSecret, r) as Body).data.jobId).toBe(jobId);
    // The endpoint (failed only) got nothing of it.
    expect(got.filter((r) => r.path === '/hooks')).toHaveLength(0);
    const listed = await deliveries(apiKey, `?jobId=${jobId}`);
    expect(listed.every((d) => d.endpointId === null && d.url === jobUrl)).toBe(true);
  });

  it("rotates the account's default secret: job webhooks carry both signatures for 24 hours, then only the new one", async () => {
    const { accountId, apiKey, receiver } = await setup(['training.failed']);
    const before = await gql(t.url, apiKey, AccountWebhookSecretDocument);
    const oldSecret = before.data!.account.webhookSecret;
    expect(before.data!.account.previousWebhookSecretExpiresAt).toBeNull();

    const rotated = await gql(t.url, apiKey, RotateAccountWebhookSecretDocument);
    const payload = rotated.data!.rotateAccountWebhookSecret;
    expect(payload.errors).toEqual([]);
    const newSecret = payload.secret!;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    const overlapHours = (Date.parse(payload.previousSecretExpiresAt!) - Date.now()) / 3_600_000;
    expect(overlapHours).toBeGreaterThan(23.9);
    expect(overlapHours).toBeLessThanOrEqual(24);
    const after = await gql(t.url, apiKey, AccountWebhookSecretDocument);
    expect(after.data!.account).toMatchObject({
      webhookSecret: newSecret,
      previousWebhookSecretExpiresAt: payload.previousSecretExpiresAt,
    });
    expect((await rest(t, apiKey, 'GET', '/api/webhooks/secret')).json.secret).toBe(newSecret);

    const jobId = fakeJobId();
    const jobUrl = `${receiver.url}/job/${jobId}`;
    await emit(t, accountId, 'training.started', { jobId, status: 'RUNNING' }, jobUrl);
    const [first] = await receiver.waitFor((all) => all.length === 1);
    expect(first!.signature.split(' ')).toHaveLength(2);
    verify(newSecret, first!);
    verify(oldSecret, first!);

    // Over REST, once more: the secret of the first rotation is now the previous one.
    const again = await rest(t, apiKey, 'POST', '/api/webhooks/secret/rotate');
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ object: 'webhook_secret', secret: expect.stringMatching(/^whsec_/) });
    const newest = again.json.secret as string;
    // When the overlap is over, only the newest secret signs.
    await t.app.services.db
      .updateTable('accounts')
      .set({ previous_webhook_secret_expires_at: sql<Date>`now() - interval '1 second'` })
      .where('id', '=', accountId)
      .execute();
    expect((await gql(t.url, apiKey, AccountWebhookSecretDocument)).data!.account.previousWebhookSecretExpiresAt).toBeNull();
    await emit(t, accountId, 'training.completed', { jobId, status: 'SUCCEEDED' }, jobUrl);
    const got = await receiver.waitFor((all) => all.length === 2);
    expect(got[1]!.signature.split(' ')).toHaveLength(1);
    verify(newest, got[1]!);
    expect(() => verify(newSecret, got[1]!)).toThrow();
  });

  it('retries a 500 with the same webhook-id until a 200, recording every attempt', async () => {
    const { accountId, apiKey, receiver, secret } = await setup();
    receiver.plan({ status: 500, body: 'database is down' }, { status: 500, body: 'still down' });
    const jobId = fakeJobId();
    await emit(t, accountId, 'training.completed', { jobId, status: 'SUCCEEDED' });
    const got = await receiver.waitFor((all) => all.some((r) => r.status === 200));
    expect(got.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(new Set(got.map((r) => r.id)).size).toBe(1);
    for (const r of got) verify(secret, r);

    const [delivery] = await until(
      () => deliveries(apiKey, `?jobId=${jobId}`),
      (d) => d[0]?.status === 'SUCCEEDED',
    );
    expect(delivery!.messageId).toBe(got[0]!.id);
    expect(delivery!.attempts.map((a: any) => [a.attempt, a.statusCode, a.responseSnippet])).toEqual([
      [1, 500, 'database is down'],
      [2, 500, 'still down'],
      [3, 200, 'ok'],
    ]);
    expect(delivery!.attempts[0].error).toBe('HTTP 500');
  });

  it('records the answer of a receiver whose body holds NUL and control bytes (sanitised), and delivery goes on', async () => {
    const { accountId, apiKey, receiver } = await setup();
    receiver.plan({ status: 500, body: 'bad\u0000body\u0007 \ud800' });
    const jobId = fakeJobId();
    await emit(t, accountId, 'training.completed', { jobId, status: 'SUCCEEDED' });
    await receiver.waitFor((all) => all.some((r) => r.status === 200));
    const [delivery] = await until(
      () => deliveries(apiKey, `?jobId=${jobId}`),
      (d) => d[0]?.status === 'SUCCEEDED',
    );
    expect(delivery!.attempts.map((a: any) => [a.statusCode, a.responseSnippet])).toEqual([
      [500, 'bad\\u0000body\\u0007 \uFFFD'],
      [200, 'ok'],
    ]);
  });

  it('honours Retry-After', async () => {
    const { accountId, receiver } = await setup();
    receiver.plan({ status: 503, headers: { 'retry-after': '1' } });
    await emit(t, accountId, 'training.completed', { jobId: fakeJobId(), status: 'SUCCEEDED' });
    const got = await receiver.waitFor((all) => all.some((r) => r.status === 200));
    expect(got).toHaveLength(2);
    // The schedule alone would retry after ~5 ms.
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('disables an endpoint that answers 410 Gone, and sends nothing more to it until re-enabled', async () => {
    const { accountId, apiKey, receiver, endpointId } = await setup();
    receiver.plan({ status: 410 });
    await emit(t, accountId, 'training.completed', { jobId: fakeJobId(), status: 'SUCCEEDED' });
    await receiver.waitFor((all) => all.length === 1);
    const endpoint = await until(
      async () => (await rest(t, apiKey, 'GET', `/api/webhooks/${endpointId}`)).json,
      (e) => e.enabled === false,
    );
    expect(endpoint.disabledReason).toBe('GONE');
    const [delivery] = await until(
      () => deliveries(apiKey),
      (d) => d[0]?.status === 'FAILED',
    );
    expect(delivery!.attemptCount).toBe(1);

    await emit(t, accountId, 'training.failed', { jobId: fakeJobId(), status: 'FAILED' });
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toHaveLength(1);
    expect(await deliveries(apiKey)).toHaveLength(1);

    // A disabled endpoint's delivery cannot be redelivered until it is enabled again.
    const refused = await rest(t, apiKey, 'POST', `/api/webhooks/deliveries/${delivery!.id}/redeliver`);
    expect(refused.status).toBe(409);
    expect(refused.json.code).toBe('ENDPOINT_DISABLED');
    const enabled = await rest(t, apiKey, 'PATCH', `/api/webhooks/${endpointId}`, { enabled: true });
    expect(enabled.json).toMatchObject({ enabled: true, disabledReason: null });
    await emit(t, accountId, 'training.failed', { jobId: fakeJobId(), status: 'FAILED' });
    await receiver.waitFor((all) => all.length === 2);
  });

  it('times out a slow receiver and retries', async () => {
    const { accountId, apiKey, receiver } = await setup();
    receiver.plan({ delayMs: 2_000 });
    const jobId = fakeJobId();
    await emit(t, accountId, 'training.completed', { jobId, status: 'SUCCEEDED' });
    const [delivery] = await until(
      () => deliveries(apiKey, `?jobId=${jobId}`),
      (d) => d[0]?.status === 'SUCCEEDED',
    );
    expect(delivery!.attempts[0]).toMatchObject({ attempt: 1, statusCode: null, error: 'timed out after 1000 ms' });
    expect(delivery!.attempts[0].latencyMs).toBeGreaterThanOrEqual(990);
    expect(delivery!.attempts.at(-1)).toMatchObject({ statusCode: 200 });
    // At least once: the slow receiver may have processed the first copy too — same id.
    await receiver.waitFor((all) => all.length >= 2);
    expect(new Set(receiver.received.map((r) => r.id))).toEqual(new Set([delivery!.messageId]));
  });

  it('delivers every event once a receiver that was down comes back, with stable ids', async () => {
    const { accountId, apiKey, receiver, secret } = await setup();
    await receiver.down();
    const jobIds = Array.from({ length: 5 }, () => fakeJobId());
    for (const jobId of jobIds) await emit(t, accountId, 'training.completed', { jobId, status: 'SUCCEEDED' });
    // Failing meanwhile: connection refused, retried on schedule.
    const failing = await until(
      () => deliveries(apiKey),
      (d) => d.length === 5 && d.every((x) => x.attemptCount >= 2),
    );
    expect(failing.every((d) => d.status === 'PENDING' && d.lastError === 'connection refused')).toBe(true);
    const messageIds = new Set(failing.map((d) => d.messageId));

    await receiver.up();
    const got = await receiver.waitFor((all) => new Set(all.map((r) => r.id)).size === 5);
    expect(new Set(got.map((r) => r.id))).toEqual(messageIds);
    expect(new Set(got.map((r) => r.json.data.jobId))).toEqual(new Set(jobIds));
    for (const r of got) verify(secret, r);
    await until(
      () => deliveries(apiKey),
      (d) => d.every((x) => x.status === 'SUCCEEDED'),
    );
  });

  it('sends again a delivery whose sender died holding its lease, once the lease expires', async () => {
    const { accountId, apiKey, receiver } = await setup();
    const jobId = fakeJobId();
    const enqueuedAt = Date.now();
    await t.app.services.db.transaction().execute(async (trx) => {
      await t.app.services.webhooks.enqueue(trx, { type: 'training.failed', accountId, data: { jobId, status: 'FAILED' } });
      // As if another process had claimed it and died mid-attempt.
      await sql`update webhook_deliveries set lease_owner = 'dead-sender', lease_expires_at = now() + interval '1 second',
        next_attempt_at = now() + interval '1 second', attempts = 1 where account_id = ${accountId}`.execute(trx);
    });
    const [r] = await receiver.waitFor((all) => all.length === 1);
    expect(r!.at - enqueuedAt).toBeGreaterThanOrEqual(900);
    const [delivery] = await until(
      () => deliveries(apiKey, `?jobId=${jobId}`),
      (d) => d[0]?.status === 'SUCCEEDED',
    );
    expect(delivery!.attemptCount).toBe(2);
    expect(delivery!.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([2]);
  });

  it('prunes finished messages after the retention period, never pending ones', async () => {
    const { accountId, apiKey, receiver } = await setup();
    await receiver.down();
    const [done, waiting] = [fakeJobId(), fakeJobId()];
    await emit(t, accountId, 'training.completed', { jobId: done, status: 'SUCCEEDED' });
    await emit(t, accountId, 'training.failed', { jobId: waiting, status: 'FAILED' });
    const { db } = t.app.services;
    // Finished (the sender may hold it right now: dropping the lease voids its write).
    await sql`update webhook_deliveries set status = 'succeeded', lease_owner = null, lease_expires_at = null
      where account_id = ${accountId} and message_id in (select id from webhook_messages where job_id = ${done})`.execute(db);
    await sql`update webhook_messages set created_at = now() - interval '31 days' where account_id = ${accountId}`.execute(db);
    expect(await pruneMessages(db, 30)).toBe(1);
    const left = await deliveries(apiKey);
    expect(left.map((d) => d.jobId)).toEqual([waiting]);
    expect(await pruneMessages(db, 30)).toBe(0);
  });

  it('signs with the old and the new secret for 24 hours after a rotation', async () => {
    const { accountId, apiKey, receiver, endpointId, secret: oldSecret } = await setup();
    const rotated = await gql(t.url, apiKey, RotateWebhookEndpointSecretDocument, { input: { id: endpointId } });
    const payload = rotated.data!.rotateWebhookEndpointSecret;
    expect(payload.errors).toEqual([]);
    const newSecret = payload.secret!;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    const overlapHours = (Date.parse(payload.endpoint!.previousSecretExpiresAt!) - Date.now()) / 3_600_000;
    expect(overlapHours).toBeGreaterThan(23.9);
    expect(overlapHours).toBeLessThanOrEqual(24);

    await emit(t, accountId, 'training.completed', { jobId: fakeJobId(), status: 'SUCCEEDED' });
    const [r] = await receiver.waitFor((all) => all.length === 1);
    expect(r!.signature.split(' ')).toHaveLength(2);
    expect(r!.signature.split(' ').every((s) => s.startsWith('v1,'))).toBe(true);
    verify(newSecret, r!);
    verify(oldSecret, r!);
  });

  it('redelivers with the same webhook-id (GraphQL)', async () => {
    const { accountId, apiKey, receiver, secret } = await setup();
    const jobId = fakeJobId();
    await emit(t, accountId, 'training.cancelled', { jobId, status: 'CANCELLED' });
    await receiver.waitFor((all) => all.length === 1);
    const listed = await until(
      () => gql(t.url, apiKey, WebhookDeliveriesDocument, { jobId }),
      (res) => res.data?.webhookDeliveries.edges[0]?.node.status === 'SUCCEEDED',
    );
    const delivery = listed.data!.webhookDeliveries.edges[0]!.node;
    expect(delivery.eventType).toBe('training.cancelled');
    expect(JSON.parse(delivery.body).data).toEqual({ jobId, status: 'CANCELLED' });

    const redelivered = await gql(t.url, apiKey, RedeliverWebhookDocument, { input: { deliveryId: delivery.id } });
    expect(redelivered.data!.redeliverWebhook.errors).toEqual([]);
    const got = await receiver.waitFor((all) => all.length === 2);
    expect(got[1]!.id).toBe(got[0]!.id);
    verify(secret, got[1]!);
    const after = await until(
      () => gql(t.url, apiKey, WebhookDeliveriesDocument, { jobId }),
      (res) =>
        res.data?.webhookDeliveries.edges[0]?.node.attemptCount === 2 && res.data.webhookDeliveries.edges[0].node.status === 'SUCCEEDED',
    );
    expect(after.data!.webhookDeliveries.edges[0]!.node.attempts.map((a) => a.statusCode)).toEqual([200, 200]);

    const missing = await gql(t.url, apiKey, RedeliverWebhookDocument, { input: { deliveryId: 'whdl_doesnotexist' } });
    expect(missing.data!.redeliverWebhook.errors[0]!.code).toBe('NOT_FOUND');
  });
});

type Body = { type: string; timestamp: string; data: Record<string, unknown> };
