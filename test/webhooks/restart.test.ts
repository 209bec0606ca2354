import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { startReceiver, verify } from '../helpers/webhook-receiver.js';
import type { Receiver } from '../helpers/webhook-receiver.js';
import { fakeJobId } from '../helpers/webhook-events.js';

/**
 * The outbox survives the process: an api stopped while a delivery waits for its retry
 * is replaced by a worker-only process on the same database, which delivers it with the
 * same webhook-id. (A sender that died holding a lease: delivery.test.ts.)
 */
describe.each(engines())('webhook delivery across restarts (%s)', (engine) => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function track<T extends { stop(): Promise<void> } | Receiver>(thing: T): Promise<T> {
    cleanup.push(() => ('close' in thing ? thing.close() : thing.stop()));
    return thing;
  }

  it('an api stopped mid-retry: a worker started on the same database delivers, same webhook-id', async () => {
    // Factor 0.3: the retry after the first failure is due ~1.5 s later.
    const config = { webhookAllowPrivate: true, webhookRetryFactor: 0.3, webhookTimeoutMs: 1_000 };
    const first: TestApp = await track(await startTestApp(engine, { config }));
    const receiver = await track(await startReceiver());
    receiver.plan({ status: 500 });
    const { accountId } = await first.account();
    const { secret } = await first.app.services.webhooks.createEndpoint(accountId, { url: receiver.url });
    const jobId = fakeJobId();
    await first.app.services.db
      .transaction()
      .execute((trx) =>
        first.app.services.webhooks.enqueue(trx, { type: 'training.completed', accountId, data: { jobId, status: 'SUCCEEDED' } }),
      );
    await receiver.waitFor((all) => all.length === 1);
    const [pending] = await waitForDelivery(first, accountId, (d) => d.attemptCount === 1 && d.lastStatusCode === 500);
    expect(pending!.status).toBe('PENDING');
    await first.app.stop();

    // Nothing is sent while no process runs.
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toHaveLength(1);

    const second = await track(
      await startTestApp(engine, {
        config,
        api: false,
        worker: true,
        dataDir: first.config.dataDir,
        databaseUrl: first.config.databaseUrl,
      }),
    );
    const got = await receiver.waitFor((all) => all.length === 2, 10_000);
    expect(got[1]!.status).toBe(200);
    expect(got[1]!.id).toBe(got[0]!.id);
    expect(got[1]!.id).toBe(pending!.messageId);
    expect((verify(secret, got[1]!) as { data: { jobId: string } }).data.jobId).toBe(jobId);
    const [done] = await waitForDelivery(second, accountId, (d) => d.status === 'SUCCEEDED');
    expect(done!.attempts.map((a) => a.statusCode)).toEqual([500, 200]);
  });
});

async function waitForDelivery(
  t: TestApp,
  accountId: string,
  ok: (d: Awaited<ReturnType<TestApp['app']['services']['webhooks']['getDelivery']>>) => boolean,
) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const page = await t.app.services.webhooks.listDeliveries(accountId);
    if (page.items.length > 0 && page.items.every(ok)) return page.items;
    if (Date.now() > deadline) throw new Error(`deliveries not as expected: ${JSON.stringify(page.items)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
