/**
 * The `openai` npm package fine-tunes against a running server (api + worker, the real
 * trainer on the tiny model): create with numbers and with "auto", list across pages,
 * retrieve until succeeded, events with step metrics, checkpoints, the results CSV,
 * pause → resume with every step once, cancel, and typed errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI, { toFile } from 'openai';
import type { FineTuningJob } from 'openai/resources/fine-tuning/jobs/jobs';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { QA, qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson } from '../../src/dev/rest-client.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { startReceiver } from '../helpers/webhook-receiver.js';
import type { Receiver } from '../helpers/webhook-receiver.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(engines())('OpenAI fine-tuning jobs (%s)', (engine) => {
  let t: TestApp;
  let alice: OpenAI;
  let bob: OpenAI;
  let aliceKey: string;
  let aliceId: string;
  let trainingFile: string;
  let validationFile: string;
  let succeeded: FineTuningJob;
  let receiver: Receiver;
  let openAiSecret: string;

  const upload = async (client: OpenAI, text: string, name: string) => {
    let file = await client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'fine-tune' });
    while (file.status === 'uploaded') {
      await sleep(100);
      file = await client.files.retrieve(file.id);
    }
    return file;
  };
  const until = async (id: string, done: (j: FineTuningJob) => boolean) => {
    for (let i = 0; ; i++) {
      const job = await alice.fineTuning.jobs.retrieve(id);
      if (done(job)) return job;
      if (i > 3000) throw new Error(`job ${id} still ${job.status}`);
      await sleep(100);
    }
  };
  const finished = (j: FineTuningJob) => ['succeeded', 'failed', 'cancelled'].includes(j.status);
  const metricSteps = async (id: string) => {
    const steps: number[] = [];
    for await (const e of alice.fineTuning.jobs.listEvents(id, { limit: 50 })) {
      if (e.type === 'metrics' && (e.data as { train_loss?: unknown }).train_loss !== undefined) {
        steps.push((e.data as { step: number }).step);
      }
    }
    return steps;
  };

  beforeAll(async () => {
    t = await startTestApp(engine, { worker: true, config: { webhookAllowPrivate: true } });
    receiver = await startReceiver();
    await addTinyModel(t);
    await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id: 'tiny-frozen', fineTunable: false });
    const a = await t.account('alice', 100_000_000n);
    const b = await t.account('bob', 100_000_000n);
    aliceKey = a.apiKey;
    aliceId = a.accountId;
    alice = new OpenAI({ apiKey: a.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
    bob = new OpenAI({ apiKey: b.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
    trainingFile = (await upload(alice, qaJsonl(), 'train.jsonl')).id;
    // One endpoint in OpenAI's format, one in Tuneloop's (the default), both on the receiver.
    const endpoint = async (path: string, body: Record<string, unknown>) =>
      restJson<{ secret: string; format: string }>(t.url, aliceKey, '/api/webhooks', {
        method: 'POST',
        body: JSON.stringify({ url: `${receiver.url}${path}`, ...body }),
      });
    const openAiEndpoint = await endpoint('/openai', { format: 'OPENAI' });
    expect(openAiEndpoint.body.format).toBe('OPENAI');
    openAiSecret = openAiEndpoint.body.secret;
    expect((await endpoint('/tuneloop', {})).body.format).toBe('TUNELOOP');
    validationFile = (await upload(alice, qaJsonl(QA.slice(0, 10).map(([q, a]) => [`${q} `, a])), 'valid.jsonl')).id;
  });
  afterAll(async () => {
    if (t) await expectLedgerConsistent(t.app.services.db);
    await t?.stop();
    await receiver?.close();
  });

  it('creates a job with numbers, retrieves it until succeeded, with events, checkpoints and a results file', {
    timeout: 600_000,
  }, async () => {
    const created = await alice.fineTuning.jobs.create({
      model: 'tiny',
      training_file: trainingFile,
      validation_file: validationFile,
      suffix: 'numbers',
      seed: 7,
      metadata: { team: 'qa', run: '1' },
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 2, batch_size: 1, learning_rate_multiplier: 2 } } },
    });
    expect(created).toMatchObject({
      object: 'fine_tuning.job',
      model: 'tiny',
      status: 'queued',
      training_file: trainingFile,
      validation_file: validationFile,
      seed: 7,
      metadata: { team: 'qa', run: '1' },
      fine_tuned_model: null,
      hyperparameters: { n_epochs: 2, batch_size: 1, learning_rate_multiplier: 2 },
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 2, batch_size: 1, learning_rate_multiplier: 2 } } },
      error: null,
    });
    // The multiplier scales the auto learning rate (LoRA's 2e-4 for an imported model).
    const native = await restJson<{ hyperparameters: Record<string, unknown> }>(t.url, aliceKey, `/api/training/${created.id}`);
    expect(native.body.hyperparameters).toMatchObject({ learningRateMultiplier: 2, learningRate: 4e-4, seed: 7, epochs: 2 });

    succeeded = await until(created.id, finished);
    expect(succeeded).toMatchObject({ status: 'succeeded', error: null, estimated_finish: null });
    expect(succeeded.fine_tuned_model).toMatch(/^ft:tiny:numbers:/);
    expect(succeeded.trained_tokens).toBeGreaterThan(0);
    expect(succeeded.finished_at).toBeGreaterThanOrEqual(succeeded.created_at);

    // Events: newest first, a metrics event per step with the trainer's metrics.
    const events = [];
    for await (const e of alice.fineTuning.jobs.listEvents(created.id, { limit: 7 })) events.push(e);
    expect(events[0]).toMatchObject({ type: 'message', message: 'Job succeeded' });
    const times = events.map((e) => e.created_at);
    expect(times).toEqual([...times].sort((x, y) => y - x));
    const steps = events
      .filter((e) => e.type === 'metrics' && 'train_loss' in (e.data as object))
      .map((e) => e.data as Record<string, number | null>);
    const total = steps[0]!.total_steps!;
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: total }, (_v, i) => total - i));
    for (const s of steps) {
      expect(s.train_loss).toBeGreaterThan(0);
      expect(s.train_mean_token_accuracy).toBeGreaterThanOrEqual(0);
      expect(s.train_mean_token_accuracy).toBeLessThanOrEqual(1);
    }
    // With a validation file: validation batches on some steps, full validation at epoch ends.
    expect(steps.some((s) => typeof s.valid_loss === 'number' && typeof s.valid_mean_token_accuracy === 'number')).toBe(true);
    const full = events.filter(
      (e) => e.type === 'metrics' && 'full_valid_loss' in (e.data as object) && !('train_loss' in (e.data as object)),
    );
    expect(full.length).toBeGreaterThanOrEqual(2);
    expect((full[0]!.data as { full_valid_loss: number }).full_valid_loss).toBeGreaterThan(0);

    // Checkpoints: callable model ids, newest first, with the metrics of their step.
    const checkpoints = [];
    for await (const c of alice.fineTuning.jobs.checkpoints.list(created.id, { limit: 1 })) checkpoints.push(c);
    expect(checkpoints.length).toBeGreaterThanOrEqual(1);
    const newest = checkpoints[0]!;
    expect(newest.fine_tuned_model_checkpoint).toBe(`${succeeded.fine_tuned_model}:ckpt-step-${newest.step_number}`);
    const atStep = steps.find((s) => s.step === newest.step_number)!;
    expect(newest.metrics).toMatchObject({
      step: newest.step_number,
      train_loss: atStep.train_loss,
      train_mean_token_accuracy: atStep.train_mean_token_accuracy,
    });

    // The results file: one CSV row per step, readable like any file.
    expect(succeeded.result_files).toHaveLength(1);
    const resultsId = succeeded.result_files[0]!;
    expect(await alice.files.retrieve(resultsId)).toMatchObject({ id: resultsId, purpose: 'fine-tune-results', status: 'processed' });
    const csv = (await (await alice.files.content(resultsId)).text()).trim().split('\n');
    expect(csv[0]).toBe('step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy');
    expect(csv.slice(1).map((line) => Number(line.split(',')[0]))).toEqual(Array.from({ length: total }, (_v, i) => i + 1));
    const first = csv[1]!.split(',');
    const step1 = steps.find((s) => s.step === 1)!;
    expect([Number(first[1]), Number(first[2])]).toEqual([step1.train_loss, step1.train_mean_token_accuracy]);
  });

  it("delivers OpenAI's fine_tuning.job events to an OPENAI endpoint, verified by webhooks.unwrap()", async () => {
    const all = await receiver.waitFor((r) => r.some((x) => x.path === '/openai' && x.body.includes(succeeded.id)), 30_000);
    const openAi = all.filter((r) => r.path === '/openai');
    const delivery = openAi.find((r) => r.body.includes(succeeded.id))!;
    const event = await alice.webhooks.unwrap(delivery.body, delivery.headers as Record<string, string>, openAiSecret);
    expect(event).toMatchObject({ object: 'event', type: 'fine_tuning.job.succeeded', data: { id: succeeded.id } });
    expect(event.id).toBe(delivery.headers['webhook-id']);
    expect(event.created_at).toBeGreaterThan(0);
    // Only end-of-job events go to it; the Tuneloop endpoint keeps Tuneloop's names.
    expect(openAi.every((r) => JSON.parse(r.body).type.startsWith('fine_tuning.job.'))).toBe(true);
    const tuneloop = all.filter((r) => r.path === '/tuneloop').map((r) => r.json.type);
    expect(tuneloop).toContain('training.completed');
    // A wrong secret does not verify.
    await expect(
      alice.webhooks.unwrap(
        delivery.body,
        delivery.headers as Record<string, string>,
        `whsec_${Buffer.from('x'.repeat(32)).toString('base64')}`,
      ),
    ).rejects.toThrow();
  });

  it('creates with "auto" (deprecated top-level hyperparameters), lists across pages and by metadata, cancels', {
    timeout: 120_000,
  }, async () => {
    const auto = await alice.fineTuning.jobs.create({
      model: 'tiny',
      training_file: trainingFile,
      hyperparameters: { n_epochs: 'auto', batch_size: 'auto', learning_rate_multiplier: 'auto' },
      metadata: { team: 'other' },
    });
    const cancelled = await alice.fineTuning.jobs.cancel(auto.id);
    expect(['cancelled', 'running']).toContain(cancelled.status);
    const done = await until(auto.id, finished);
    expect(done.status).toBe('cancelled');
    expect(typeof done.hyperparameters.n_epochs).toBe('number');
    expect(done.hyperparameters.learning_rate_multiplier).toBe(1);

    const ids: string[] = [];
    for await (const job of alice.fineTuning.jobs.list({ limit: 1 })) ids.push(job.id);
    expect(ids.slice(0, 2)).toEqual([auto.id, succeeded.id]);
    const byMetadata = await alice.fineTuning.jobs.list({ metadata: { team: 'qa' } });
    expect(byMetadata.data.map((j) => j.id)).toEqual([succeeded.id]);
  });

  it('pauses a running job and resumes it to succeeded, every step once', { timeout: 600_000 }, async () => {
    const job = await alice.fineTuning.jobs.create({
      model: 'tiny',
      training_file: trainingFile,
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 3, batch_size: 1 } } },
    });
    await until(job.id, (j) => j.status === 'running' || finished(j));
    for (let i = 0; i < 3000; i++) {
      if ((await t.app.services.training.get(aliceId, job.id)).step >= 2) break;
      await sleep(100);
    }
    const paused = await alice.fineTuning.jobs.pause(job.id);
    expect(['paused', 'running']).toContain(paused.status);
    expect((await until(job.id, (j) => (j.status as string) === 'paused' || finished(j))).status).toBe('paused');
    const resumed = await alice.fineTuning.jobs.resume(job.id);
    expect(['queued', 'running']).toContain(resumed.status);
    const done = await until(job.id, finished);
    expect(done.status).toBe('succeeded');
    const steps = (await metricSteps(job.id)).reverse();
    expect(steps).toEqual(Array.from({ length: steps.length }, (_v, i) => i + 1));
    const statuses = [];
    for await (const e of alice.fineTuning.jobs.listEvents(job.id))
      if (e.type === 'message' && e.message.startsWith('Job ')) statuses.push(e.message);
    expect(statuses.reverse()).toEqual(['Job queued', 'Job running', 'Job paused', 'Job queued', 'Job running', 'Job succeeded']);
  });

  it('answers bad requests with typed errors naming the param', async () => {
    const base = { model: 'tiny', training_file: trainingFile };
    const bad = await upload(alice, '{"messages": [}\n', 'broken.jsonl');
    const cases: Array<[Record<string, unknown>, new (...args: never[]) => Error, string | null]> = [
      [{ ...base, training_file: bad.id }, OpenAI.BadRequestError, 'training_file'],
      [{ ...base, model: 'tiny-frozen' }, OpenAI.BadRequestError, 'model'],
      [{ ...base, model: 'no-such-model' }, OpenAI.NotFoundError, 'model'],
      [{ ...base, training_file: 'ds_0000000000aaaaaaaaaaaaaaaa' }, OpenAI.NotFoundError, null],
      [{ ...base, integrations: [{ type: 'wandb', wandb: { project: 'x' } }] }, OpenAI.BadRequestError, 'integrations'],
      [{ ...base, method: { type: 'reinforcement' } }, OpenAI.BadRequestError, 'method.type'],
      [
        { ...base, method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: 0 } } } },
        OpenAI.BadRequestError,
        'method.supervised.hyperparameters.n_epochs',
      ],
      [{ ...base, hyperparameters: { n_epochs: 'many' } }, OpenAI.BadRequestError, 'hyperparameters.n_epochs'],
      [
        { ...base, method: { type: 'supervised', supervised: { hyperparameters: { beta: 0.2 } } } },
        OpenAI.BadRequestError,
        'method.supervised.hyperparameters.beta',
      ],
      [{ ...base, suffix: 'x'.repeat(65) }, OpenAI.BadRequestError, 'suffix'],
      [
        { ...base, metadata: Object.fromEntries(Array.from({ length: 17 }, (_v, i) => [`k${i}`, 'v'])) },
        OpenAI.BadRequestError,
        'metadata',
      ],
      [{ ...base, seed: -1 }, OpenAI.BadRequestError, 'seed'],
      [{ ...base, classifier: true }, OpenAI.BadRequestError, 'classifier'],
    ];
    for (const [body, type, param] of cases) {
      const err = await alice.fineTuning.jobs.create(body as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(body)).toBeInstanceOf(type);
      if (param) expect((err as InstanceType<typeof OpenAI.APIError>).param, JSON.stringify(body)).toBe(param);
    }
    await expect(alice.fineTuning.jobs.retrieve('ftjob_0000000000aaaaaaaaaaaaaaaa')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const wrong = new OpenAI({ apiKey: 'tl_wrong', baseURL: `${t.url}/v1`, maxRetries: 0 });
    await expect(wrong.fineTuning.jobs.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("answers another account's job, events, checkpoints and results exactly like missing ones", async () => {
    const id = succeeded.id;
    const calls = [
      () => bob.fineTuning.jobs.retrieve(id),
      () => bob.fineTuning.jobs.cancel(id),
      () => bob.fineTuning.jobs.pause(id),
      () => bob.fineTuning.jobs.resume(id),
      () => bob.fineTuning.jobs.listEvents(id),
      () => bob.fineTuning.jobs.checkpoints.list(id),
      () => bob.files.content(succeeded.result_files[0]!),
    ];
    for (const call of calls) await expect(call()).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const foreign = await bob.fineTuning.jobs.retrieve(id).catch((e: InstanceType<typeof OpenAI.APIError>) => e.error);
    const missing = await bob.fineTuning.jobs
      .retrieve('ftjob_0000000000aaaaaaaaaaaaaaaa')
      .catch((e: InstanceType<typeof OpenAI.APIError>) => e.error);
    expect(foreign).toEqual(JSON.parse(JSON.stringify(missing).replaceAll('ftjob_0000000000aaaaaaaaaaaaaaaa', id)));
    expect((await bob.fineTuning.jobs.list()).data).toEqual([]);
  });

  it('lists every callable model, retrieves fine-tuned models and checkpoints, deletes them', { timeout: 120_000 }, async () => {
    const model = succeeded.fine_tuned_model!;
    const listed = (await alice.models.list()).data.map((m) => m.id);
    expect(listed).toEqual(expect.arrayContaining(['tiny', 'tiny-frozen', model]));
    expect((await bob.models.list()).data.map((m) => m.id)).not.toContain(model);
    expect(await alice.models.retrieve(model)).toMatchObject({ id: model, object: 'model', owned_by: aliceId });
    expect(await alice.models.retrieve('tiny')).toMatchObject({ id: 'tiny', owned_by: 'tuneloop' });
    const checkpoints = (await alice.fineTuning.jobs.checkpoints.list(succeeded.id)).data;
    const oldest = checkpoints.at(-1)!.fine_tuned_model_checkpoint;
    expect(await alice.models.retrieve(oldest)).toMatchObject({ id: oldest, object: 'model' });
    for (const id of [model, oldest]) await expect(bob.models.retrieve(id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(bob.models.delete(model)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(alice.models.delete('tiny')).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);

    // A checkpoint of a finished job can go; the others stay.
    expect(await alice.models.delete(oldest)).toEqual({ id: oldest, object: 'model', deleted: true });
    await expect(alice.models.retrieve(oldest)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect((await alice.fineTuning.jobs.checkpoints.list(succeeded.id)).data).toHaveLength(checkpoints.length - 1);

    // A deployed model is refused with 409 until it is undeployed.
    const { deployment } = await t.app.services.inference.deploy(aliceId, model);
    const inUse = await alice.models.delete(model).catch((e: unknown) => e);
    expect(inUse).toBeInstanceOf(OpenAI.ConflictError);
    expect(inUse).toMatchObject({ code: 'model_in_use' });
    await t.app.services.inference.undeploy(aliceId, deployment.id);
    expect(await alice.models.delete(model)).toEqual({ id: model, object: 'model', deleted: true });
    await expect(alice.models.retrieve(model)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect((await alice.models.list()).data.map((m) => m.id)).not.toContain(model);
    // The job still names the model it made.
    expect((await alice.fineTuning.jobs.retrieve(succeeded.id)).fine_tuned_model).toBe(model);
  });
});
