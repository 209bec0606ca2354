import { Readable } from 'node:stream';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql } from '../helpers/clients.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset } from '../../src/dev/rest-client.js';
import {
  AccountDocument,
  EstimateFineTuneCostDocument,
  SetModelPricesDocument,
  StartFineTuneDocument,
  TopUpAccountDocument,
} from '../generated/graphql.js';
import { reserveFunds, settleReservation } from '../../src/billing/reservations.js';
import { postLedgerEntry } from '../../src/billing/ledger.js';
import { settleJobBilling, USER_CAUSED_FAILURES } from '../../src/training/settlement.js';

describe.each(engines())('billing (%s)', (engine) => {
  let t: TestApp;
  let model: string;

  beforeAll(async () => {
    // api only: jobs stay QUEUED, so reservations stay open unless a test settles them.
    t = await startTestApp(engine);
    model = await addTinyModel(t, 'tiny', 2_000_000_000n); // $2,000 per 1M tokens: costs are visible
  });
  afterAll(async () => {
    if (t) await expectLedgerConsistent(t.app.services.db);
    await t?.stop();
  });

  it('reserve → settle charges what was used and releases the rest; settling twice changes nothing', async () => {
    const { accountId } = await t.account('unit', 5_000_000n);
    const db = t.app.services.db;
    const r = await db
      .transaction()
      .execute((trx) => reserveFunds(trx, { accountId, amountMicros: 2_000_000n, purpose: 'training', referenceId: 'job-a' }));
    let account = await t.app.services.accounts.getAccount(accountId);
    expect([account.balance_micros, account.reserved_micros]).toEqual([5_000_000n, 2_000_000n]);
    const first = await db.transaction().execute((trx) => settleReservation(trx, r.id, 750_000n));
    expect(first).toEqual({ chargedMicros: 750_000n, releasedMicros: 1_250_000n, applied: true });
    const again = await db.transaction().execute((trx) => settleReservation(trx, r.id, 2_000_000n));
    expect(again.applied).toBe(false);
    account = await t.app.services.accounts.getAccount(accountId);
    expect([account.balance_micros, account.reserved_micros]).toEqual([4_250_000n, 0n]);
    // A charge never exceeds the reservation; a platform failure charges nothing.
    const r2 = await db
      .transaction()
      .execute((trx) => reserveFunds(trx, { accountId, amountMicros: 1_000_000n, purpose: 'training', referenceId: 'job-b' }));
    expect((await db.transaction().execute((trx) => settleReservation(trx, r2.id, 9_000_000n))).chargedMicros).toBe(1_000_000n);
    const r3 = await db
      .transaction()
      .execute((trx) => reserveFunds(trx, { accountId, amountMicros: 1_000_000n, purpose: 'training', referenceId: 'job-c' }));
    expect((await db.transaction().execute((trx) => settleReservation(trx, r3.id, 0n))).chargedMicros).toBe(0n);
    account = await t.app.services.accounts.getAccount(accountId);
    expect([account.balance_micros, account.reserved_micros]).toEqual([3_250_000n, 0n]);
    await expectLedgerConsistent(db);
  });

  it('refuses a reservation or a charge beyond the available balance', async () => {
    const { accountId } = await t.account('poor', 1_000_000n);
    const db = t.app.services.db;
    await db
      .transaction()
      .execute((trx) => reserveFunds(trx, { accountId, amountMicros: 600_000n, purpose: 'training', referenceId: 'x' }));
    await expect(
      db.transaction().execute((trx) => reserveFunds(trx, { accountId, amountMicros: 600_000n, purpose: 'training', referenceId: 'y' })),
    ).rejects.toMatchObject({ code: 'INSUFFICIENT_BALANCE', details: { required: '0.600000', available: '0.400000' } });
    // The database itself refuses to let available go negative.
    await expect(
      db.transaction().execute((trx) => postLedgerEntry(trx, { accountId, type: 'adjustment', amountMicros: -500_000n })),
    ).rejects.toMatchObject({
      code: 'INSUFFICIENT_BALANCE',
    });
    await expectLedgerConsistent(db);
  });

  it('estimates over GraphQL and REST: billable tokens = dataset tokens × epochs; allowedToProceed follows the balance', async () => {
    const rich = await t.account('rich', 100_000_000n);
    const dataset = await uploadDataset(t.url, rich.apiKey, qaJsonl());
    const input = { baseModel: model, trainingDataset: dataset.id, hyperparameters: { epochs: 3, maxSeqLength: 64 } };
    const g = await gql(t.url, rich.apiKey, EstimateFineTuneCostDocument, { input });
    const e = g.data!.estimateFineTuneCost;
    const stats = await t.app.services.datasets.get(rich.accountId, dataset.id);
    const tokens = (stats.stats as { tokens: { total: number } }).tokens.total;
    expect(e.epochs).toBe(3);
    expect(e.billableTokens).toBe(tokens * 3);
    expect(e.cost).toBe(((tokens * 3 * 2000) / 1e6).toFixed(6));
    expect(e.allowedToProceed).toBe(true);
    const rest = await restJson<Record<string, any>>(t.url, rich.apiKey, '/api/fine-tune/estimate', {
      method: 'POST',
      body: JSON.stringify(input),
    });
    expect(rest.body).toMatchObject({
      billableTokens: e.billableTokens,
      epochs: 3,
      cost: e.cost,
      available: '100.000000',
      allowedToProceed: true,
    });
    const poor = await t.account('broke', 1n);
    const theirs = await uploadDataset(t.url, poor.apiKey, qaJsonl());
    const low = await gql(t.url, poor.apiKey, EstimateFineTuneCostDocument, { input: { ...input, trainingDataset: theirs.id } });
    expect(low.data!.estimateFineTuneCost.allowedToProceed).toBe(false);
    // "auto" epochs are resolved and reported.
    const auto = await restJson<Record<string, any>>(t.url, rich.apiKey, '/api/fine-tune/estimate', {
      method: 'POST',
      body: JSON.stringify({ baseModel: model, trainingDataset: dataset.id, hyperparameters: { epochs: 'auto' } }),
    });
    expect(auto.body.epochs).toBe(9); // 12 examples → ceil(100 / 12)
    // Another account's dataset is not found.
    const foreign = await restJson<Record<string, any>>(t.url, poor.apiKey, '/api/fine-tune/estimate', {
      method: 'POST',
      body: JSON.stringify(input),
    });
    expect(foreign.status).toBe(404);
  });

  it('starting reserves the estimate; INSUFFICIENT_BALANCE creates no job', async () => {
    const a = await t.account('starter', 100_000_000n);
    const dataset = await uploadDataset(t.url, a.apiKey, qaJsonl());
    const input = { baseModel: model, trainingDataset: dataset.id, hyperparameters: { epochs: 2, maxSeqLength: 64 } };
    const estimate = (await gql(t.url, a.apiKey, EstimateFineTuneCostDocument, { input })).data!.estimateFineTuneCost;
    const started = await gql(t.url, a.apiKey, StartFineTuneDocument, { input });
    expect(started.data!.startFineTune.job!.status).toBe('QUEUED');
    const account = (await gql(t.url, a.apiKey, AccountDocument)).data!.account;
    expect(account.reserved).toBe(estimate.cost);
    expect(account.ledger.edges[0]!.node).toMatchObject({
      type: 'reserve',
      hold: estimate.cost,
      referenceId: started.data!.startFineTune.job!.id,
    });

    const b = await t.account('short', 1_000n);
    const theirs = await uploadDataset(t.url, b.apiKey, qaJsonl());
    const refused = await gql(t.url, b.apiKey, StartFineTuneDocument, { input: { ...input, trainingDataset: theirs.id } });
    expect(refused.data!.startFineTune.job).toBeNull();
    expect(refused.data!.startFineTune.errors[0]).toMatchObject({
      __typename: 'InsufficientBalanceError',
      code: 'INSUFFICIENT_BALANCE',
      required: estimate.cost,
      available: '0.001000',
    });
    const rest = await restJson<Record<string, any>>(t.url, b.apiKey, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ ...input, trainingDataset: theirs.id }),
    });
    expect(rest.status).toBe(402);
    expect(rest.body).toMatchObject({ code: 'INSUFFICIENT_BALANCE', required: estimate.cost, available: '0.001000' });
    expect((await t.app.services.training.list(b.accountId)).jobs).toHaveLength(0);
    await expectLedgerConsistent(t.app.services.db);
  });

  it('an Idempotency-Key retry returns the same job and reserves once; the same key with another body is refused', async () => {
    const a = await t.account('retrier', 100_000_000n);
    const dataset = await uploadDataset(t.url, a.apiKey, qaJsonl());
    const body = JSON.stringify({ baseModel: model, trainingDataset: dataset.id, hyperparameters: { epochs: 1 } });
    const send = (b: string, key: string) =>
      restJson<Record<string, any>>(t.url, a.apiKey, '/api/fine-tune/training/start', {
        method: 'POST',
        body: b,
        headers: { 'idempotency-key': key },
      });
    const results = await Promise.all(Array.from({ length: 5 }, () => send(body, 'key-1')));
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(results.every((r) => r.status === 201)).toBe(true);
    const reserves = (await t.app.services.billing.ledger(a.accountId)).entries.filter((e) => e.type === 'reserve');
    expect(reserves).toHaveLength(1);
    const other = await send(JSON.stringify({ baseModel: model, trainingDataset: dataset.id, hyperparameters: { epochs: 2 } }), 'key-1');
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    // The GraphQL input field works the same way.
    const viaGraphql = await gql(t.url, a.apiKey, StartFineTuneDocument, {
      input: { baseModel: model, trainingDataset: dataset.id, hyperparameters: { epochs: 1 }, idempotencyKey: 'key-1' },
    });
    expect(viaGraphql.data!.startFineTune.job!.id).toBe(results[0]!.body.id);
    await expectLedgerConsistent(t.app.services.db);
  });

  it('top-ups: admins only over the API, through the ledger', async () => {
    const admin = await t.account('admin', 0n, true);
    const user = await t.account('user', 0n);
    const denied = await gql(t.url, user.apiKey, TopUpAccountDocument, { input: { accountId: user.accountId, amount: '5' } });
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const ok = await gql(t.url, admin.apiKey, TopUpAccountDocument, { input: { accountId: user.accountId, amount: '5.25' } });
    expect(ok.data!.topUpAccount.account!.balance).toBe('5.250000');
    const missing = await gql(t.url, admin.apiKey, TopUpAccountDocument, { input: { accountId: 'acct_nope', amount: '1' } });
    expect(missing.data!.topUpAccount.errors[0]!.code).toBe('NOT_FOUND');
    const rest = await restJson<Record<string, any>>(t.url, user.apiKey, '/api/account');
    expect(rest.body).toMatchObject({ id: user.accountId, balance: '5.250000', available: '5.250000', reserved: '0.000000' });
    await expectLedgerConsistent(t.app.services.db);
  });

  it('a job started on a dataset still VALIDATING waits, then is queued with its reservation', async () => {
    const a = await t.account('early', 100_000_000n);
    const db = t.app.services.db;
    // Store the file, and hold the dataset in VALIDATING with a lease nobody else takes.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tl-early-'));
    const file = path.join(dir, 'qa.jsonl');
    await fs.writeFile(file, qaJsonl().replace('Ice.', 'Ice, cold.'));
    const stored = await t.app.services.datasets.createFromStream(a.accountId, (await fs.open(file)).createReadStream());
    await t.app.services.datasets.idle();
    await db
      .updateTable('datasets')
      .set({ status: 'VALIDATING', validation_lease_expires_at: new Date(Date.now() + 3_600_000) })
      .where('id', '=', stored.id)
      .execute();
    const started = await gql(t.url, a.apiKey, StartFineTuneDocument, { input: { baseModel: model, trainingDataset: stored.id } });
    const jobId = started.data!.startFineTune.job!.id;
    expect(started.data!.startFineTune.job!.status).toBe('VALIDATING');
    expect((await t.app.services.accounts.getAccount(a.accountId)).reserved_micros).toBe(0n);
    await db.updateTable('datasets').set({ validation_lease_expires_at: null }).where('id', '=', stored.id).execute();
    const validated = await t.app.services.datasets.validateNow(stored.id);
    expect(validated?.status).toBe('READY');
    const job = await t.app.services.training.get(a.accountId, jobId);
    expect(job.status).toBe('QUEUED');
    expect(job.estimated_cost_micros).toBeGreaterThan(0n);
    expect((await t.app.services.accounts.getAccount(a.accountId)).reserved_micros).toBe(job.estimated_cost_micros);
    await fs.rm(dir, { recursive: true, force: true });
    await expectLedgerConsistent(db);
  });

  it('a DPO job started on a dataset still VALIDATING that turns out to be chat data fails DATASET_FORMAT_MISMATCH, charging nothing', async () => {
    const a = await t.account('mismatch', 100_000_000n);
    const db = t.app.services.db;
    const stored = await t.app.services.datasets.createFromStream(a.accountId, Readable.from([qaJsonl().replace('Ice.', 'Ice, frozen.')]));
    await t.app.services.datasets.idle();
    // Held in VALIDATING with no format yet, as a fresh upload is: the start cannot check the format.
    await db
      .updateTable('datasets')
      .set({ status: 'VALIDATING', format: null, validation_lease_expires_at: new Date(Date.now() + 3_600_000) })
      .where('id', '=', stored.id)
      .execute();
    const started = await gql(t.url, a.apiKey, StartFineTuneDocument, {
      input: { baseModel: model, trainingDataset: stored.id, method: 'DPO' },
    });
    expect(started.data!.startFineTune.errors).toEqual([]);
    const jobId = started.data!.startFineTune.job!.id;
    expect(started.data!.startFineTune.job!.status).toBe('VALIDATING');
    await db.updateTable('datasets').set({ validation_lease_expires_at: null }).where('id', '=', stored.id).execute();
    expect((await t.app.services.datasets.validateNow(stored.id))?.format).toBe('chat');
    const job = await t.app.services.training.get(a.accountId, jobId);
    expect(job).toMatchObject({ status: 'FAILED', error_code: 'DATASET_FORMAT_MISMATCH' });
    expect(job.error_message).toMatch(/needs a preference dataset/);
    const account = await t.app.services.accounts.getAccount(a.accountId);
    expect([account.reserved_micros, account.balance_micros]).toEqual([0n, 100_000_000n]);
    await expectLedgerConsistent(db);
  });

  it('settles a finished job by who caused the end: tokens trained × price, or nothing for a platform failure', async () => {
    const a = await t.account('settler', 100_000_000n);
    const dataset = await uploadDataset(t.url, a.apiKey, qaJsonl().replace('Mars.', 'Mars, the red one.'));
    const db = t.app.services.db;
    const startOne = async () => {
      const r = await gql(t.url, a.apiKey, StartFineTuneDocument, {
        input: { baseModel: model, trainingDataset: dataset.id, hyperparameters: { epochs: 4, maxSeqLength: 64 } },
      });
      const id = r.data!.startFineTune.job!.id;
      // As if a worker had trained 100 tokens before the job ended.
      return db.updateTable('training_jobs').set({ trained_tokens: 100n }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
    };
    expect(USER_CAUSED_FAILURES.has('NAN_LOSS')).toBe(true);
    expect(USER_CAUSED_FAILURES.has('TRAINER_CRASHED')).toBe(false);
    const userFault = await startOne();
    const charged = await db.transaction().execute((trx) => settleJobBilling(trx, userFault, 'charge-trained'));
    expect(charged).toBe((100n * 2_000_000_000n) / 1_000_000n); // 100 tokens at $2,000 / 1M
    const platformFault = await startOne();
    expect(await db.transaction().execute((trx) => settleJobBilling(trx, platformFault, 'charge-nothing'))).toBe(0n);
    const account = await t.app.services.accounts.getAccount(a.accountId);
    expect([account.balance_micros, account.reserved_micros]).toEqual([100_000_000n - charged, 0n]);
    await expectLedgerConsistent(db);
  });

  it('admins set prices and top up over GraphQL and REST; others are refused with FORBIDDEN', async () => {
    const admin = await t.account('price-admin', 0n, true);
    const user = await t.account('price-user', 0n);
    await t.app.services.catalog.importModel({
      dir: (await t.app.services.catalog.getModel(admin.accountId, model)).storage_path,
      id: 'priced',
      fineTunable: true,
    });
    const denied = await gql(t.url, user.apiKey, SetModelPricesDocument, {
      input: { modelId: 'priced', pricePerMillionTrainingTokens: '9' },
    });
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const set = await gql(t.url, admin.apiKey, SetModelPricesDocument, {
      input: { modelId: 'priced', pricePerMillionTrainingTokens: '3.5' },
    });
    expect(set.data!.setModelPrices.model).toMatchObject({
      pricePerMillionTrainingTokens: '3.500000',
      pricePerMillionInferenceTokens: '0.000000',
    });
    const negative = await gql(t.url, admin.apiKey, SetModelPricesDocument, {
      input: { modelId: 'priced', pricePerMillionInferenceTokens: '-1' },
    });
    expect(negative.data!.setModelPrices.errors[0]!.code).toBe('INVALID_INPUT');
    const restDenied = await restJson(t.url, user.apiKey, '/api/models/priced', {
      method: 'PATCH',
      body: JSON.stringify({ pricePerMillionInferenceTokens: '1' }),
    });
    expect(restDenied.status).toBe(403);
    const restSet = await restJson<Record<string, string>>(t.url, admin.apiKey, '/api/models/priced', {
      method: 'PATCH',
      body: JSON.stringify({ pricePerMillionInferenceTokens: '0.25' }),
    });
    expect(restSet.body).toMatchObject({ pricePerMillionTrainingTokens: '3.500000', pricePerMillionInferenceTokens: '0.250000' });
    const topupDenied = await restJson(t.url, user.apiKey, `/api/accounts/${user.accountId}/topup`, {
      method: 'POST',
      body: JSON.stringify({ amount: '5' }),
    });
    expect(topupDenied.status).toBe(403);
    const topup = await restJson<Record<string, string>>(t.url, admin.apiKey, `/api/accounts/${user.accountId}/topup`, {
      method: 'POST',
      body: JSON.stringify({ amount: '5' }),
    });
    expect(topup.body).toMatchObject({ id: user.accountId, balance: '5.000000' });
    await expectLedgerConsistent(t.app.services.db);
  });
});
