/**
 * OpenAI-compatible files and fine-tuning jobs, driven by the official `openai` npm
 * package against a running server (api + worker) with the real trainer: upload, create
 * with "auto" and with numbers, auto-pagination, events with step metrics, checkpoints,
 * pause → resume, cancel, the results CSV, chatting with the fine-tuned model and a
 * checkpoint without a deployment, OpenAI's typed errors, and tenancy
 * (docs/openai-compatibility.md).
 */
import fs from 'node:fs/promises';
import OpenAI, { toFile } from 'openai';
import type { FineTuning } from 'openai/resources/fine-tuning/fine-tuning';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { QA, qaJsonl } from '../../src/dev/qa-dataset.js';

type Job = FineTuning.Jobs.FineTuningJob;
type JobEvent = FineTuning.Jobs.FineTuningJobEvent;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `read` until `done` holds (the test's own timeout bounds it). */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await sleep(200);
  }
}

async function expectError<E>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(type);
  return error as E;
}

const finished = (job: Job) => ['succeeded', 'failed', 'cancelled'].includes(job.status);

describe.each(engines())('OpenAI files and fine-tuning jobs through the openai SDK (%s)', (engine) => {
  let t: TestApp;
  let dataDir: string;
  let aliceId: string;
  let client: OpenAI;
  let bobClient: OpenAI;
  let trainingFile: string;
  let validationFile: string;
  let badFile: string;
  let autoJob: Job;
  let numbersJob: Job;
  let cancelledJob: Job;

  const allEvents = async (jobId: string, limit = 7) => {
    const events: JobEvent[] = [];
    for await (const event of client.fineTuning.jobs.listEvents(jobId, { limit })) events.push(event);
    return events;
  };
  const stepsOf = (events: JobEvent[]) =>
    events
      .filter((e) => e.type === 'metrics' && (e.data as { total_steps?: unknown }).total_steps !== undefined)
      .map((e) => (e.data as { step: number }).step);

  beforeAll(async () => {
    dataDir = await makeTempDir();
    t = await startTestApp(engine, { dataDir, worker: true });
    const alice = await t.account('alice', 1_000_000_000n);
    const bob = await t.account('bob', 1_000_000_000n);
    for (const [id, fineTunable] of [
      ['tiny', true],
      ['tiny-frozen', false],
    ] as const) {
      await t.app.services.catalog.importModel({
        dir: await tinyModelFolder(),
        id,
        fineTunable,
        pricePerMTokMicros: 2_000_000n,
        inferencePricePerMTokMicros: 1_000_000n,
      });
    }
    aliceId = alice.accountId;
    client = new OpenAI({ apiKey: alice.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
    bobClient = new OpenAI({ apiKey: bob.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
  }, 60_000);

  afterAll(async () => {
    if (t) await expectLedgerConsistent(t.app.services.db);
    await t?.stop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('uploads files: a dataset by another name, processed or in error with line-numbered details', async () => {
    const uploaded = await client.files.create({ file: await toFile(Buffer.from(qaJsonl()), 'qa.jsonl'), purpose: 'fine-tune' });
    expect(uploaded).toMatchObject({ object: 'file', purpose: 'fine-tune', filename: 'qa.jsonl', bytes: Buffer.byteLength(qaJsonl()) });
    expect(uploaded.id).toMatch(/^ds_/);
    expect(['uploaded', 'processed']).toContain(uploaded.status);
    expect(uploaded.created_at).toBeGreaterThan(1_600_000_000);
    trainingFile = uploaded.id;
    const processed = await client.files.waitForProcessing(trainingFile, { pollInterval: 100 });
    expect(processed.status).toBe('processed');
    // The same object on the REST API.
    expect((await t.app.services.datasets.get(aliceId, trainingFile)).status).toBe('READY');
    expect(await (await client.files.content(trainingFile)).text()).toBe(qaJsonl());

    const validation = qaJsonl(QA.slice(0, 10));
    validationFile = (await client.files.create({ file: await toFile(Buffer.from(validation), 'valid.jsonl'), purpose: 'fine-tune' })).id;
    expect((await client.files.waitForProcessing(validationFile, { pollInterval: 100 })).status).toBe('processed');

    const bad = `${qaJsonl(QA.slice(0, 2))}{"messages": "not a list"}\nnot json\n`;
    badFile = (await client.files.create({ file: await toFile(Buffer.from(bad), 'bad.jsonl'), purpose: 'fine-tune' })).id;
    const failed = await until(
      () => client.files.retrieve(badFile),
      (f) => f.status !== 'uploaded',
    );
    expect(failed.status).toBe('error');
    expect(failed.status_details).toMatch(/line 3/);
    expect(failed.status_details).toMatch(/line 4/);

    // Another purpose is refused, naming the parameter; nothing is stored.
    const before = (await client.files.list()).data.length;
    const refused = await expectError(
      client.files.create({ file: await toFile(Buffer.from('{"x":1}\n'), 'x.jsonl'), purpose: 'assistants' }),
      OpenAI.BadRequestError,
    );
    expect(refused.param).toBe('purpose');
    expect((await client.files.list()).data.length).toBe(before);

    // Listing, newest first, across pages.
    const listed: string[] = [];
    for await (const file of client.files.list({ limit: 1 })) listed.push(file.id);
    expect(listed).toEqual([badFile, validationFile, trainingFile]);
    expect((await client.files.list({ purpose: 'assistants' })).data).toEqual([]);

    // Deleting an unused file.
    const spare = (
      await client.files.create({ file: await toFile(Buffer.from(qaJsonl(QA.slice(2, 12))), 's.jsonl'), purpose: 'fine-tune' })
    ).id;
    expect(await client.files.delete(spare)).toEqual({ id: spare, object: 'file', deleted: true });
    await expectError(client.files.retrieve(spare), OpenAI.NotFoundError);
  }, 60_000);

  it('creates a job with "auto" hyperparameters and trains it to succeeded', async () => {
    autoJob = await client.fineTuning.jobs.create({
      model: 'tiny',
      training_file: trainingFile,
      validation_file: validationFile,
      suffix: 'auto-run',
      seed: 7,
      metadata: { team: 'a', run: 'auto' },
      method: {
        type: 'supervised',
        supervised: { hyperparameters: { n_epochs: 'auto', batch_size: 'auto', learning_rate_multiplier: 'auto' } },
      },
    });
    expect(autoJob).toMatchObject({
      object: 'fine_tuning.job',
      model: 'tiny',
      training_file: trainingFile,
      validation_file: validationFile,
      seed: 7,
      metadata: { team: 'a', run: 'auto' },
      fine_tuned_model: null,
      finished_at: null,
      integrations: [],
      error: null,
    });
    expect(autoJob.id).toMatch(/^ftjob_/);
    expect(['validating_files', 'queued', 'running']).toContain(autoJob.status);
    const done = await until(
      () => client.fineTuning.jobs.retrieve(autoJob.id),
      (j) => finished(j),
    );
    expect(done.status).toBe('succeeded');
    expect(done.fine_tuned_model).toMatch(/^ft:tiny:auto-run:/);
    expect(done.trained_tokens).toBeGreaterThan(0);
    expect(done.finished_at).toBeGreaterThanOrEqual(done.created_at);
    // "auto" resolved to the numbers it ran with.
    const hp = done.method!.supervised!.hyperparameters!;
    expect(hp.n_epochs).toEqual(expect.any(Number));
    expect(hp.batch_size).toEqual(expect.any(Number));
    expect(hp.learning_rate_multiplier).toBe(1);
    expect(done.hyperparameters).toEqual(hp);
    expect(done.result_files).toEqual([`file-results-${autoJob.id}`]);
    autoJob = done;
  }, 300_000);

  it('lists events newest first, with a metrics event per step and the validation metrics', async () => {
    const events = await allEvents(autoJob.id);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const created = events.map((e) => e.created_at);
    expect([...created].sort((a, b) => b - a)).toEqual(created);
    expect(events[0]).toMatchObject({ object: 'fine_tuning.job.event', type: 'message', level: 'info' });
    expect(events[0]!.message).toMatch(/completed/);
    const steps = stepsOf(events);
    const total = (events.find((e) => stepsOf([e]).length === 1)!.data as { total_steps: number }).total_steps;
    expect([...steps].reverse()).toEqual(Array.from({ length: total }, (_v, i) => i + 1));
    for (const e of events.filter((e) => stepsOf([e]).length === 1)) {
      const data = e.data as Record<string, number | null>;
      expect(data.train_loss).toEqual(expect.any(Number));
      expect(data.train_mean_token_accuracy).toBeGreaterThanOrEqual(0);
      expect(data.train_mean_token_accuracy).toBeLessThanOrEqual(1);
    }
    // A validation batch is measured on some steps, the full validation at each epoch end.
    const measured = events.filter((e) => typeof (e.data as { valid_loss?: unknown })?.valid_loss === 'number');
    expect(measured.length).toBeGreaterThan(0);
    for (const e of measured) expect((e.data as { valid_mean_token_accuracy: number }).valid_mean_token_accuracy).toBeGreaterThanOrEqual(0);
    const full = events.filter((e) => typeof (e.data as { full_valid_loss?: unknown })?.full_valid_loss === 'number');
    expect(full.length).toBe(autoJob.method!.supervised!.hyperparameters!.n_epochs);
    // Pages continue after the last event of the previous one.
    const first = await client.fineTuning.jobs.listEvents(autoJob.id, { limit: 3 });
    const next = await client.fineTuning.jobs.listEvents(autoJob.id, { limit: 3, after: first.data.at(-1)!.id });
    expect([...first.data, ...next.data].map((e) => e.id)).toEqual(events.slice(0, 6).map((e) => e.id));
    await expectError(client.fineTuning.jobs.listEvents(autoJob.id, { after: 'ftevent-nope-1' }), OpenAI.BadRequestError);
  }, 60_000);

  it('lists checkpoints, each callable without a deployment, and the results CSV', async () => {
    const checkpoints = [];
    for await (const c of client.fineTuning.jobs.checkpoints.list(autoJob.id, { limit: 1 })) checkpoints.push(c);
    expect(checkpoints.length).toBeGreaterThan(0);
    const steps = checkpoints.map((c) => c.step_number);
    expect([...steps].sort((a, b) => b - a)).toEqual(steps);
    const events = await allEvents(autoJob.id, 100);
    const lossAt = (step: number) =>
      (events.find((e) => stepsOf([e])[0] === step)!.data as { train_loss: number; train_mean_token_accuracy: number }).train_loss;
    for (const c of checkpoints) {
      expect(c).toMatchObject({
        object: 'fine_tuning.job.checkpoint',
        fine_tuning_job_id: autoJob.id,
        fine_tuned_model_checkpoint: `${autoJob.fine_tuned_model}:ckpt-step-${c.step_number}`,
        metrics: { step: c.step_number, train_loss: lossAt(c.step_number) },
      });
      expect(c.metrics.train_mean_token_accuracy).toEqual(expect.any(Number));
    }

    // The results file: one row per step, the same numbers as the events.
    const resultsId = autoJob.result_files[0]!;
    const file = await client.files.retrieve(resultsId);
    expect(file).toMatchObject({ id: resultsId, object: 'file', purpose: 'fine-tune-results', status: 'processed' });
    const csv = await (await client.files.content(resultsId)).text();
    expect(file.bytes).toBe(Buffer.byteLength(csv));
    const [header, ...rows] = csv.trim().split('\n');
    expect(header).toBe('step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy');
    const total = stepsOf(events).length;
    expect(rows.map((r) => Number(r.split(',')[0]))).toEqual(Array.from({ length: total }, (_v, i) => i + 1));
    for (const row of rows) {
      const [step, loss, accuracy] = row.split(',');
      expect(Number(loss)).toBe(lossAt(Number(step)));
      expect(Number(accuracy)).toBeGreaterThanOrEqual(0);
    }
    expect(rows.some((r) => r.split(',')[3] !== '')).toBe(true);
    await expectError(client.files.delete(resultsId), OpenAI.BadRequestError);

    // Chat with the fine-tuned model and with its newest checkpoint: no deployment step.
    const ask = (model: string) =>
      client.chat.completions.create({ model, messages: [{ role: 'user', content: QA[0]![0] }], temperature: 0, max_completion_tokens: 8 });
    const fromModel = await ask(autoJob.fine_tuned_model!);
    expect(fromModel.model).toBe(autoJob.fine_tuned_model);
    expect(fromModel.choices[0]!.message.content!.length).toBeGreaterThan(0);
    const fromCheckpoint = await ask(checkpoints[0]!.fine_tuned_model_checkpoint);
    expect(fromCheckpoint.choices[0]!.message.content).toBe(fromModel.choices[0]!.message.content);
  }, 120_000);

  it('creates a job with numbers; pause → resume → succeeded with no step missing or repeated', async () => {
    numbersJob = await client.fineTuning.jobs.create({
      model: 'tiny',
      training_file: trainingFile,
      metadata: { team: 'b' },
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 6, batch_size: 1, learning_rate_multiplier: 4 } } },
    });
    expect(numbersJob.method!.supervised!.hyperparameters).toEqual({ n_epochs: 6, batch_size: 1, learning_rate_multiplier: 4 });
    expect(numbersJob.seed).toBe(42);
    // The multiplier scales the auto learning rate (the "auto" job ran with that rate).
    const stored = async (id: string) => {
      const row = await t.app.services.db
        .selectFrom('training_jobs')
        .select('hyperparameters')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      return row.hyperparameters as { learningRate: number };
    };
    expect((await stored(numbersJob.id)).learningRate).toBeCloseTo(4 * (await stored(autoJob.id)).learningRate, 12);

    await until(
      () => client.fineTuning.jobs.listEvents(numbersJob.id, { limit: 1 }),
      (page) => (stepsOf(page.data)[0] ?? 0) >= 3,
    );
    const pausing = await client.fineTuning.jobs.pause(numbersJob.id);
    expect(['running', 'paused']).toContain(pausing.status);
    const paused = await until(
      () => client.fineTuning.jobs.retrieve(numbersJob.id),
      (j) => j.status !== 'running',
    );
    expect(paused).toMatchObject({ status: 'paused', finished_at: null, error: null });
    const resumed = await client.fineTuning.jobs.resume(numbersJob.id);
    expect(['queued', 'running']).toContain(resumed.status);
    const done = await until(
      () => client.fineTuning.jobs.retrieve(numbersJob.id),
      (j) => finished(j),
    );
    expect(done.status).toBe('succeeded');
    const events = await allEvents(numbersJob.id, 50);
    const total = (events.find((e) => stepsOf([e]).length === 1)!.data as { total_steps: number }).total_steps;
    expect([...stepsOf(events)].reverse()).toEqual(Array.from({ length: total }, (_v, i) => i + 1));
    const statuses = events
      .filter((e) => e.type === 'message' && (e.data as { status?: string } | null)?.status)
      .map((e) => (e.data as { status: string }).status)
      .reverse();
    expect(statuses).toEqual(['queued', 'running', 'paused', 'queued', 'running', 'succeeded']);
  }, 300_000);

  it('cancels a job', async () => {
    cancelledJob = await client.fineTuning.jobs.create({ model: 'tiny', training_file: trainingFile, hyperparameters: { n_epochs: 3 } });
    const cancelling = await client.fineTuning.jobs.cancel(cancelledJob.id);
    expect(['running', 'cancelled']).toContain(cancelling.status);
    const done = await until(
      () => client.fineTuning.jobs.retrieve(cancelledJob.id),
      (j) => finished(j),
    );
    expect(done.status).toBe('cancelled');
    expect(done.fine_tuned_model).toBeNull();
  }, 120_000);

  it('lists jobs newest first across pages, and by metadata', async () => {
    const ids: string[] = [];
    for await (const job of client.fineTuning.jobs.list({ limit: 1 })) ids.push(job.id);
    expect(ids).toEqual([cancelledJob.id, numbersJob.id, autoJob.id]);
    const byTeam = await client.fineTuning.jobs.list({ metadata: { team: 'a' } });
    expect(byTeam.data.map((j) => j.id)).toEqual([autoJob.id]);
    const byBoth = await client.fineTuning.jobs.list({ metadata: { team: 'a', run: 'other' } });
    expect(byBoth.data).toEqual([]);
  });

  it('answers typed errors naming the parameter', async () => {
    const create = (body: Record<string, unknown>) =>
      client.fineTuning.jobs.create({ model: 'tiny', training_file: trainingFile, ...body } as never);
    const badFileError = await expectError(create({ training_file: badFile }), OpenAI.BadRequestError);
    expect(badFileError.param).toBe('training_file');
    expect((await expectError(create({ model: 'tiny-frozen' }), OpenAI.BadRequestError)).param).toBe('model');
    expect((await expectError(create({ model: 'no-such-model' }), OpenAI.NotFoundError)).param).toBe('model');
    expect((await expectError(create({ method: { type: 'reinforcement' } }), OpenAI.BadRequestError)).param).toBe('method.type');
    expect((await expectError(create({ integrations: [{ type: 'wandb', wandb: { project: 'p' } }] }), OpenAI.BadRequestError)).param).toBe(
      'integrations',
    );
    const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_v, i) => [`k${i}`, 'v']));
    expect((await expectError(create({ metadata: tooMany }), OpenAI.BadRequestError)).param).toBe('metadata');
    expect((await expectError(create({ metadata: { k: 'v'.repeat(513) } }), OpenAI.BadRequestError)).param).toBe('metadata.k');
    expect(
      (
        await expectError(
          create({ method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 'many' } } } }),
          OpenAI.BadRequestError,
        )
      ).param,
    ).toBe('method.supervised.hyperparameters.n_epochs');
    expect((await expectError(create({ hyperparameters: { beta: 0.1 } }), OpenAI.BadRequestError)).param).toBe('hyperparameters.beta');
    expect((await expectError(create({ suffix: 'Not Valid!' }), OpenAI.BadRequestError)).param).toBe('suffix');
    expect((await expectError(client.fineTuning.jobs.list({ limit: 1000 }), OpenAI.BadRequestError)).param).toBe('limit');
    expect((await expectError(client.files.list({ after: 'not-a-file' }), OpenAI.BadRequestError)).param).toBe('after');
    expect((await expectError(client.fineTuning.jobs.retrieve('ftjob_00000000000000000000000000'), OpenAI.NotFoundError)).code).toBe(
      'fine_tuning_job_not_found',
    );
    await expectError(client.fineTuning.jobs.cancel('ftjob_00000000000000000000000000'), OpenAI.NotFoundError);
    expect((await expectError(client.files.retrieve('ds_00000000000000000000000000'), OpenAI.NotFoundError)).code).toBe('file_not_found');
    const stranger = new OpenAI({ apiKey: 'tl_wrong', baseURL: client.baseURL, maxRetries: 0 });
    await expectError(stranger.fineTuning.jobs.list(), OpenAI.AuthenticationError);
    await expectError(stranger.files.list(), OpenAI.AuthenticationError);
    // Nothing half-written: only the three jobs above exist.
    expect((await client.fineTuning.jobs.list()).data.length).toBe(3);
  });

  it("answers another account's files and jobs like missing ones", async () => {
    const notFound = (promise: Promise<unknown>) => expectError(promise, OpenAI.NotFoundError);
    await notFound(bobClient.files.retrieve(trainingFile));
    await notFound(bobClient.files.content(trainingFile));
    await notFound(bobClient.files.delete(trainingFile));
    await notFound(bobClient.files.retrieve(autoJob.result_files[0]!));
    await notFound(bobClient.files.content(autoJob.result_files[0]!));
    await notFound(bobClient.fineTuning.jobs.retrieve(autoJob.id));
    await notFound(bobClient.fineTuning.jobs.cancel(numbersJob.id));
    await notFound(bobClient.fineTuning.jobs.pause(numbersJob.id));
    await notFound(bobClient.fineTuning.jobs.resume(numbersJob.id));
    await notFound(bobClient.fineTuning.jobs.listEvents(autoJob.id));
    await notFound(bobClient.fineTuning.jobs.checkpoints.list(autoJob.id));
    await notFound(bobClient.fineTuning.jobs.create({ model: 'tiny', training_file: trainingFile }));
    expect((await bobClient.fineTuning.jobs.list()).data).toEqual([]);
    expect((await bobClient.files.list()).data).toEqual([]);
    // Alice's file is untouched.
    expect((await client.files.retrieve(trainingFile)).status).toBe('processed');
  });

  it('creates a DPO job from a preference file (method dpo with beta); a chat file is refused for DPO', async () => {
    const pairs = Array.from({ length: 12 }, (_, i) => ({
      input: { messages: [{ role: 'user', content: `Which is better, ${i} or ${i + 1}?` }] },
      preferred_output: [{ role: 'assistant', content: `${i + 1}, by one.` }],
      non_preferred_output: [{ role: 'assistant', content: `${i}.` }],
    }));
    const jsonl = `${pairs.map((p) => JSON.stringify(p)).join('\n')}\n`;
    const file = await client.files.create({ file: await toFile(Buffer.from(jsonl), 'pairs.jsonl'), purpose: 'fine-tune' });
    await client.files.waitForProcessing(file.id, { pollInterval: 200 });
    const chat = await client.files.create({ file: await toFile(Buffer.from(qaJsonl()), 'chat.jsonl'), purpose: 'fine-tune' });
    await client.files.waitForProcessing(chat.id, { pollInterval: 200 });
    const refused = await expectError(
      client.fineTuning.jobs.create({ model: 'tiny', training_file: chat.id, method: { type: 'dpo', dpo: {} } }),
      OpenAI.BadRequestError,
    );
    expect(refused.code).toBe('dataset_format_mismatch');
    const job = await client.fineTuning.jobs.create({
      model: 'tiny',
      training_file: file.id,
      method: { type: 'dpo', dpo: { hyperparameters: { beta: 0.2, n_epochs: 1 } } },
    });
    expect(job.method).toMatchObject({ type: 'dpo', dpo: { hyperparameters: { beta: 0.2, n_epochs: 1 } } });
    const rest = await fetch(`${t.url}/api/training/${job.id}`, { headers: { authorization: `Bearer ${client.apiKey}` } });
    expect(((await rest.json()) as { method: string }).method).toBe('DPO');
    await client.fineTuning.jobs.cancel(job.id);
    await until(
      () => client.fineTuning.jobs.retrieve(job.id),
      (j) => finished(j),
    );
  }, 120_000);
});
