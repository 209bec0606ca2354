import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { FAST_HYPERPARAMETERS, addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';
import { startReceiver, verify } from '../helpers/webhook-receiver.js';
import type { Receiver } from '../helpers/webhook-receiver.js';

/**
 * Real jobs with the real trainer announce their outcomes: an account endpoint and a
 * job's own webhookUrl each receive signed training.* events, verified with the
 * Standard Webhooks reference verifier.
 */
describe('training outcomes reach webhooks', () => {
  let t: TestApp;
  let receiver: Receiver;
  let key: string;
  let endpointSecret: string;
  let accountSecret: string;

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTestApp('pglite', { worker: true, config: { webhookAllowPrivate: true, webhookRetryFactor: 0.001 } });
    key = (await t.account('hooked', 10_000_000n)).apiKey;
    await addTinyModel(t);
    const created = await restJson<{ secret: string }>(t.url, key, '/api/webhooks', {
      method: 'POST',
      body: JSON.stringify({
        url: `${receiver.url}/account`,
        events: ['training.started', 'training.completed', 'training.failed', 'training.cancelled'],
      }),
    });
    expect(created.status).toBe(201);
    endpointSecret = created.body.secret;
    accountSecret = (await restJson<{ secret: string }>(t.url, key, '/api/webhooks/secret')).body.secret;
  });
  afterAll(async () => {
    await t?.stop();
    await receiver?.close();
  });

  it('a completed job and a failed job each deliver their events, signed, to the endpoint and to the job URL', {
    timeout: 300_000,
  }, async () => {
    const dataset = await uploadDataset(t.url, key, qaJsonl());
    const ok = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: dataset.id,
        method: 'FULL',
        hyperparameters: { ...FAST_HYPERPARAMETERS, epochs: 1 },
        webhookUrl: `${receiver.url}/job`,
      }),
    });
    // Every answer lies past 16 tokens of question: truncated to 16, no example keeps a
    // trainable token, and the trainer refuses the job (NO_TRAINABLE_TOKENS: the user's data).
    const longQuestions = qaJsonl(
      Array.from(
        { length: 12 },
        (_v, i) => [`${'Please think very carefully about this long question number '.repeat(3)}${i}?`, `Answer ${i}.`] as [string, string],
      ),
    );
    const badData = await uploadDataset(t.url, key, longQuestions);
    const bad = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: badData.id,
        method: 'FULL',
        hyperparameters: { ...FAST_HYPERPARAMETERS, maxSeqLength: 16 },
        webhookUrl: `${receiver.url}/job`,
      }),
    });
    expect(bad.status).toBe(201);

    const succeeded = await waitForJob(t.url, key, ok.body.id, ['SUCCEEDED', 'FAILED']);
    expect(succeeded.status).toBe('SUCCEEDED');
    const failed = await waitForJob(t.url, key, bad.body.id, ['SUCCEEDED', 'FAILED']);
    expect(failed.status).toBe('FAILED');
    expect(failed.error.code).toBe('NO_TRAINABLE_TOKENS');

    const expected = (path: string) => (all: typeof receiver.received) => {
      const types = all.filter((r) => r.path === path && r.status < 300).map((r) => `${r.json.data.jobId}:${r.json.type}`);
      return [
        `${ok.body.id}:training.started`,
        `${ok.body.id}:training.completed`,
        `${bad.body.id}:training.started`,
        `${bad.body.id}:training.failed`,
      ].every((x) => types.includes(x));
    };
    await receiver.waitFor(expected('/account'), 60_000);
    await receiver.waitFor(expected('/job'), 60_000);

    for (const r of receiver.delivered()) {
      const body = verify(r.path === '/account' ? endpointSecret : accountSecret, r) as { type: string; data: Record<string, unknown> };
      expect(body.type).toMatch(/^training\./);
    }
    const completed = receiver.delivered().find((r) => r.path === '/account' && r.json.type === 'training.completed')!;
    expect(completed.json.data).toMatchObject({ jobId: ok.body.id, status: 'SUCCEEDED', fineTunedModel: succeeded.fineTunedModel });
    const failedEvent = receiver.delivered().find((r) => r.path === '/job' && r.json.type === 'training.failed')!;
    expect(failedEvent.json.data).toMatchObject({ jobId: bad.body.id, status: 'FAILED', error: { code: 'NO_TRAINABLE_TOKENS' } });
    // One delivery per event and target: no duplicates under distinct ids.
    const ids = receiver.delivered().map((r) => `${r.path}:${r.id}`);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
