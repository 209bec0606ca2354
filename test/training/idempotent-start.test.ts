import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql } from '../helpers/clients.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset } from '../../src/dev/rest-client.js';
import { StartFineTuneDocument } from '../generated/graphql.js';

/**
 * Retries of one start racing each other — 20 at once over real HTTP, half REST and half
 * GraphQL, with a worker claiming the new job meanwhile (the claim's update of the job
 * row is what used to close a deadlock cycle on PostgreSQL): every caller gets the same
 * job, one reservation is made, nobody sees a 500.
 */
describe.each(engines())('parallel starts with one idempotency key (%s)', (engine) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(engine, { worker: true });
    await addTinyModel(t);
  });
  afterAll(async () => {
    if (t) await expectLedgerConsistent(t.app.services.db);
    await t?.stop();
  });

  it('20 parallel starts per key, three keys in turn: one job per key, the same answer for every caller', {
    timeout: 180_000,
  }, async () => {
    const a = await t.account('retrier', 1_000_000_000n);
    const dataset = await uploadDataset(t.url, a.apiKey, qaJsonl());
    expect(dataset.status).toBe('READY');
    for (const key of ['key-a', 'key-b', 'key-c']) {
      const input = { baseModel: 'tiny', trainingDataset: dataset.id, hyperparameters: { epochs: 1, maxSeqLength: 64 } };
      const calls = Array.from({ length: 20 }, (_v, i) =>
        i % 2 === 0
          ? restJson<{ id?: string; status?: string; code?: string }>(t.url, a.apiKey, '/api/fine-tune/training/start', {
              method: 'POST',
              body: JSON.stringify(input),
              headers: { 'idempotency-key': key },
            }).then((r) => ({ via: 'rest', status: r.status, id: r.body.id, code: r.body.code }))
          : gql(t.url, a.apiKey, StartFineTuneDocument, { input: { ...input, idempotencyKey: key } }).then((r) => ({
              via: 'graphql',
              status: r.errors ? 500 : r.data!.startFineTune.errors.length ? 400 : 201,
              id: r.data?.startFineTune.job?.id,
              code: r.errors?.[0]?.extensions?.code ?? r.data?.startFineTune.errors[0]?.code,
            })),
      );
      const results = await Promise.all(calls);
      expect(results.filter((r) => r.status !== 201)).toEqual([]);
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
    }
    const { jobs } = await t.app.services.training.list(a.accountId, { first: 100 });
    expect(jobs).toHaveLength(3);
    const reserves = (await t.app.services.billing.ledger(a.accountId)).entries.filter((e) => e.type === 'reserve');
    expect(reserves).toHaveLength(3);
    // Two jobs wait behind the first (one worker): cancel them all so nothing trains on after the test.
    for (const job of jobs) await t.app.services.training.cancel(a.accountId, job.id, { waitMs: 20_000 });
  });
});
