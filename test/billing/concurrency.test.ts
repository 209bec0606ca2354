import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset } from '../../src/dev/rest-client.js';

describe.each(engines())('money under concurrency (%s)', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(engine);
    await addTinyModel(t, 'tiny', 1_000_000_000n);
  });
  afterAll(async () => t?.stop());

  it('100 parallel starts against a balance that covers 10 → exactly 10 jobs, never a negative balance', async () => {
    const probe = await t.account('probe', 1_000_000_000n);
    const dataset = await uploadDataset(t.url, probe.apiKey, qaJsonl());
    const body = { baseModel: 'tiny', hyperparameters: { epochs: 1, maxSeqLength: 64 } };
    const estimate = await restJson<{ cost: string }>(t.url, probe.apiKey, '/api/fine-tune/estimate', {
      method: 'POST',
      body: JSON.stringify({ ...body, trainingDataset: dataset.id }),
    });
    const cost = BigInt(Math.round(Number(estimate.body.cost) * 1e6));
    expect(cost).toBeGreaterThan(0n);

    const racer = await t.account('racer', cost * 10n + cost / 2n);
    const theirs = await uploadDataset(t.url, racer.apiKey, qaJsonl());
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        restJson<{ id?: string; code?: string }>(t.url, racer.apiKey, '/api/fine-tune/training/start', {
          method: 'POST',
          body: JSON.stringify({ ...body, trainingDataset: theirs.id }),
        }),
      ),
    );
    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 402);
    expect(created).toHaveLength(10);
    expect(refused).toHaveLength(90);
    for (const r of refused) expect(r.body.code).toBe('INSUFFICIENT_BALANCE');
    const jobs = await t.app.services.training.list(racer.accountId, { first: 100 });
    expect(jobs.jobs).toHaveLength(10);
    const account = await t.app.services.accounts.getAccount(racer.accountId);
    expect(account.reserved_micros).toBe(cost * 10n);
    expect(account.balance_micros - account.reserved_micros).toBe(cost / 2n);
    await expectLedgerConsistent(t.app.services.db);
  });
});
