import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { FAST_HYPERPARAMETERS, addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';

const CRASHING_PYTHON = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'crashing-python.sh');

describe('a trainer that crashes (platform failure)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('pglite', { worker: true, config: { python: CRASHING_PYTHON } });
    await addTinyModel(t);
  });
  afterAll(async () => {
    if (t) await expectLedgerConsistent(t.app.services.db);
    await t?.stop();
  });

  it('fails the job with TRAINER_CRASHED, charges nothing, and the worker takes the next job', async () => {
    const a = await t.account('victim', 10_000_000n);
    const dataset = await uploadDataset(t.url, a.apiKey, qaJsonl());
    const start = () =>
      restJson<{ id: string }>(t.url, a.apiKey, '/api/fine-tune/training/start', {
        method: 'POST',
        body: JSON.stringify({
          baseModel: 'tiny',
          trainingDataset: dataset.id,
          method: 'FULL',
          hyperparameters: { ...FAST_HYPERPARAMETERS, checkpointEvery: 2 },
        }),
      });
    const first = await start();
    const second = await start();
    const crashed = await waitForJob(t.url, a.apiKey, first.body.id, ['FAILED', 'SUCCEEDED']);
    expect(crashed.status).toBe('FAILED');
    expect(crashed.error.code).toBe('TRAINER_CRASHED');
    expect(crashed.error.message).not.toMatch(/at .*\.(ts|js):\d+/); // no stack trace
    expect(crashed.trainedTokens).toBeGreaterThan(0);
    expect(crashed.cost).toBe('0.000000');
    // The worker survived and ran the next job (which crashes the same way).
    const next = await waitForJob(t.url, a.apiKey, second.body.id, ['FAILED', 'SUCCEEDED']);
    expect(next.error.code).toBe('TRAINER_CRASHED');
    const account = await t.app.services.accounts.getAccount(a.accountId);
    expect([account.balance_micros, account.reserved_micros]).toEqual([10_000_000n, 0n]);
  });
});
