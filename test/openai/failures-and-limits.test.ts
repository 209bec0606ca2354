/**
 * The unhappy paths of the OpenAI-compatible API through the official `openai` npm package
 * against a running server (api + worker, the real trainer): a job whose trainer dies ends
 * `failed` with OpenAI's `error {code, message, param}`, an error-level event, and a real
 * `fine_tuning.job.failed` webhook that `webhooks.unwrap()` verifies; a balance too small
 * is `402 insufficient_quota` with nothing written; a body over the limit is `413` and a
 * full inference queue `429` (RateLimitError, Retry-After), both in OpenAI's error shape
 * (docs/openai-compatibility.md § Errors).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI, { toFile } from 'openai';
import type { FineTuning } from 'openai/resources/fine-tuning/fine-tuning';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { deployReady, onnxModelFolder } from '../helpers/inference.js';
import { rest } from '../helpers/webhook-events.js';
import { startReceiver } from '../helpers/webhook-receiver.js';
import type { Receiver } from '../helpers/webhook-receiver.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';

type Job = FineTuning.Jobs.FineTuningJob;

/** Kills the trainer with SIGKILL once its first checkpoint exists (test/fixtures/crashing-python.sh). */
const CRASHING_PYTHON = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'crashing-python.sh');
const NO_EOS = { '1023': -100, '1021': -100 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await sleep(200);
  }
}

/** The error a promise rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(OpenAI.APIError);
  return error as InstanceType<typeof OpenAI.APIError>;
}

describe.each(engines())('OpenAI API failures and limits through the openai SDK (%s)', (engine) => {
  let t: TestApp;
  let receiver: Receiver;
  let alice: { accountId: string; apiKey: string };
  let client: OpenAI;
  let trainingFile: string;

  beforeAll(async () => {
    t = await startTestApp(engine, {
      worker: true,
      config: {
        python: CRASHING_PYTHON,
        webhookAllowPrivate: true,
        webhookRetryFactor: 0.001,
        webhookTimeoutMs: 1_000,
        // One request decoding, one waiting: the third is refused (429).
        inferenceMaxBatch: 1,
        inferenceMaxQueue: 1,
      },
    });
    receiver = await startReceiver();
    alice = await t.account('alice', 1_000_000_000n);
    await t.app.services.catalog.importModel({
      dir: await tinyModelFolder(),
      id: 'tiny',
      fineTunable: true,
      pricePerMTokMicros: 2_000_000n,
    });
    await t.app.services.catalog.importModel({
      dir: await onnxModelFolder(),
      id: 'tiny-base',
      fineTunable: false,
      inferencePricePerMTokMicros: 1_000_000n,
    });
    client = new OpenAI({ apiKey: alice.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const file = await client.files.create({ file: await toFile(Buffer.from(qaJsonl()), 'qa.jsonl'), purpose: 'fine-tune' });
    trainingFile = (await client.files.waitForProcessing(file.id, { pollInterval: 100 })).id;
  }, 120_000);

  afterAll(async () => {
    if (t) await expectLedgerConsistent(t.app.services.db);
    await receiver?.close();
    await t?.stop();
  });

  it("a job whose trainer dies: failed with OpenAI's error object, an error event, and fine_tuning.job.failed that unwrap() verifies", async () => {
    const endpoint = await rest(t, alice.apiKey, 'POST', '/api/webhooks', { url: `${receiver.url}/openai`, format: 'openai' });
    expect(endpoint.status).toBe(201);

    const created = await client.fineTuning.jobs.create({
      model: 'tiny',
      training_file: trainingFile,
      // Two epochs: the first epoch's end writes the checkpoint the crashing interpreter waits for.
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 2, batch_size: 1 } } },
    });
    const failed: Job = await until(
      () => client.fineTuning.jobs.retrieve(created.id),
      (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status),
    );
    expect(failed).toMatchObject({
      status: 'failed',
      fine_tuned_model: null,
      estimated_finish: null,
      error: { code: 'trainer_crashed', param: null },
    });
    expect(failed.error!.message.length).toBeGreaterThan(0);
    expect(failed.error!.message).not.toMatch(/at .*\.(ts|js):\d+/); // no stack trace
    expect(failed.finished_at).toBeGreaterThanOrEqual(failed.created_at);
    expect(failed.trained_tokens).toBeGreaterThan(0);

    // The newest event says why, at level error.
    const [newest] = (await client.fineTuning.jobs.listEvents(created.id, { limit: 1 })).data;
    expect(newest).toMatchObject({ type: 'message', level: 'error', data: { status: 'failed' } });
    expect(newest!.message).toMatch(/^The job failed/);

    // The real job's end arrives in OpenAI's shape and verifies with the endpoint's secret.
    const [delivery] = await receiver.waitFor((all) => all.length >= 1);
    const hooks = new OpenAI({ apiKey: 'unused', webhookSecret: endpoint.json.secret as string });
    const event = await hooks.webhooks.unwrap(delivery!.body, {
      'webhook-id': delivery!.id,
      'webhook-timestamp': delivery!.timestamp,
      'webhook-signature': delivery!.signature,
    });
    expect(event).toMatchObject({ object: 'event', type: 'fine_tuning.job.failed', data: { id: created.id } });
    expect(receiver.received).toHaveLength(1);
  }, 300_000);

  it('a balance too small for the estimate: 402 insufficient_quota, and no job is written', async () => {
    const poor = await t.account('poor', 1n);
    const poorClient = new OpenAI({ apiKey: poor.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
    const file = await poorClient.files.create({ file: await toFile(Buffer.from(qaJsonl()), 'qa.jsonl'), purpose: 'fine-tune' });
    await poorClient.files.waitForProcessing(file.id, { pollInterval: 100 });
    const refused = await rejection(poorClient.fineTuning.jobs.create({ model: 'tiny', training_file: file.id }));
    expect(refused.status).toBe(402);
    expect(refused.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    expect((await poorClient.fineTuning.jobs.list()).data).toEqual([]);
  });

  it("a body over the server's limit: 413 in OpenAI's shape", async () => {
    const huge = 'x'.repeat(2 * 1024 * 1024);
    const tooLarge = await rejection(
      client.chat.completions.create({ model: 'tiny-base', messages: [{ role: 'user', content: huge }], max_completion_tokens: 1 }),
    );
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.error).toMatchObject({ type: 'invalid_request_error', code: 'body_too_large', param: null });
  });

  it('a full inference queue: RateLimitError with Retry-After, and admitted again once places free', async () => {
    await deployReady(t, alice.apiKey, alice.accountId, 'tiny-base');
    const long = { model: 'tiny-base', prompt: 'Once upon a time', max_tokens: 480, logit_bias: NO_EOS };
    // A stream is returned once its request is admitted: the first decodes, the second waits.
    const running = await client.completions.create({ ...long, stream: true });
    const waiting = await client.completions.create({ ...long, stream: true });
    const limited = await rejection(client.completions.create({ ...long, max_tokens: 2 }));
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited.error).toMatchObject({ type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' });
    expect(Number(limited.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    running.controller.abort();
    waiting.controller.abort();
    // The cancelled requests give their places back at their next step.
    const answer = await until(
      () => client.completions.create({ ...long, max_tokens: 2 }).catch((e: unknown) => e),
      (r) => !(r instanceof OpenAI.RateLimitError),
    );
    expect(answer).toMatchObject({ object: 'text_completion', model: 'tiny-base' });
  }, 120_000);
});
