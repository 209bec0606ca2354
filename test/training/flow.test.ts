import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { gql, readSse, wsClient, wsCollect } from '../helpers/clients.js';
import { FAST_HYPERPARAMETERS, addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';
import {
  CancelTrainingDocument,
  DatasetStatusDocument,
  StartFineTuneDocument,
  TrainingJobDocument,
  TrainingProgressDocument,
} from '../generated/graphql.js';
import type { TrainingProgressSubscription } from '../generated/graphql.js';

/** The product's core loop with the real trainer on the tiny model, embedded database. */
describe('training jobs end to end (PGlite, api + worker in one process)', () => {
  let t: TestApp;
  let key: string;
  let accountId: string;
  let other: { apiKey: string };
  let model: string;

  beforeAll(async () => {
    t = await startTestApp('pglite', { worker: true, config: { leaseSeconds: 30 } });
    ({ apiKey: key, accountId } = await t.account('alice', 10_000_000n));
    other = await t.account('mallory', 10_000_000n);
    model = await addTinyModel(t);
  });
  afterAll(async () => t?.stop());

  async function uploadOverGraphQL(jsonl: string): Promise<string> {
    const form = new FormData();
    form.append(
      'operations',
      JSON.stringify({
        query: 'mutation($input: UploadDatasetInput!) { uploadDataset(input: $input) { dataset { id status } errors { code message } } }',
        variables: { input: { file: null } },
      }),
    );
    form.append('map', JSON.stringify({ 0: ['variables.input.file'] }));
    form.append('0', new Blob([jsonl], { type: 'application/jsonl' }), 'qa.jsonl');
    const response = await fetch(`${t.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    const body = (await response.json()) as { data: { uploadDataset: { dataset: { id: string; status: string } } } };
    expect(response.status).toBe(200);
    const id = body.data.uploadDataset.dataset.id;
    for (let i = 0; i < 200; i++) {
      const ds = await gql(t.url, key, DatasetStatusDocument, { id });
      if (ds.data?.dataset?.status !== 'VALIDATING') {
        expect(ds.data?.dataset?.status).toBe('READY');
        expect(ds.data?.dataset?.examples).toBe(12);
        return id;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('dataset never validated');
  }

  it('GraphQL + graphql-ws: upload → start → live falling loss → SUCCEEDED → model in the catalog, billed', async () => {
    const datasetId = await uploadOverGraphQL(qaJsonl());
    const started = await gql(t.url, key, StartFineTuneDocument, {
      input: { baseModel: model, trainingDataset: datasetId, method: 'FULL', hyperparameters: FAST_HYPERPARAMETERS, suffix: 'qa' },
    });
    expect(started.data?.startFineTune.errors).toEqual([]);
    const jobId = started.data!.startFineTune.job!.id;
    expect(jobId).toMatch(/^ftjob_/);

    const client = wsClient(t.url, key);
    const events: TrainingProgressSubscription['trainingProgress'][] = [];
    try {
      await wsCollect<TrainingProgressSubscription>(client, TrainingProgressDocument.toString(), { jobId }, (r) => {
        if (r.data) events.push(r.data.trainingProgress);
      });
    } finally {
      await client.dispose();
    }
    const steps = events.filter((e) => e.kind === 'STEP');
    expect(steps.length).toBeGreaterThanOrEqual(10);
    expect(steps.map((s) => s.step)).toEqual(steps.map((_s, i) => i + 1));
    for (const s of steps) expect(Number.isFinite(s.loss)).toBe(true);
    const losses = steps.map((s) => s.loss!);
    const firstThird = losses.slice(0, Math.ceil(losses.length / 3));
    const lastThird = losses.slice(-Math.ceil(losses.length / 3));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(lastThird)).toBeLessThan(mean(firstThird));
    expect(events.at(-1)?.status).toBe('SUCCEEDED');
    expect(events.filter((e) => e.kind === 'STATUS').map((e) => e.status)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);

    const job = (await gql(t.url, key, TrainingJobDocument, { id: jobId })).data!.trainingJob!;
    expect(job.status).toBe('SUCCEEDED');
    expect(job.fineTunedModel?.id).toBe(`ft:${model}:qa:${jobId.slice(-8)}`);
    expect(job.steps.edges.map((e) => e.node.step)).toEqual(steps.map((s) => s.step));
    expect(job.trainedTokens).toBeGreaterThan(0);
    // Full run: tokens trained = Σ min(len, maxSeqLength) × epochs = the reservation's token count, so cost = estimate.
    expect(job.cost).toBe(job.estimatedCost);
    const account = await t.app.services.accounts.getAccount(accountId);
    expect(account.reserved_micros).toBe(0n);
    expect(account.balance_micros).toBe(10_000_000n - BigInt(Math.round(Number(job.cost) * 1e6)));
    const listed = await restJson<{ data: Array<{ id: string }> }>(t.url, key, '/api/models');
    expect(listed.body.data.map((m) => m.id)).toContain(job.fineTunedModel!.id);
    // Another account sees neither the job nor the model.
    expect((await gql(t.url, other.apiKey, TrainingJobDocument, { id: jobId })).data?.trainingJob).toBeNull();
    const theirs = await restJson<{ data: Array<{ id: string }> }>(t.url, other.apiKey, '/api/models');
    expect(theirs.body.data.map((m) => m.id)).not.toContain(job.fineTunedModel!.id);
  });

  it('REST + SSE: start (LoRA) → event stream → SUCCEEDED, with the documented shape', async () => {
    const dataset = await uploadDataset(t.url, key, qaJsonl().replace('Paris.', 'Paris, of course.'));
    expect(dataset.status).toBe('READY');
    const start = await restJson<Record<string, any>>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: model,
        trainingDataset: dataset.id,
        hyperparameters: { ...FAST_HYPERPARAMETERS, learningRate: 0.01, loraRank: 4 },
      }),
    });
    expect(start.status).toBe(201);
    expect(start.body.status).toBe('QUEUED');
    const response = await fetch(`${t.url}/api/training/${start.body.id}/events`, {
      headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = await readSse(response);
    const steps = events.filter((e) => e.event === 'step').map((e) => JSON.parse(e.data) as { step: number; loss: number });
    expect(steps.length).toBeGreaterThanOrEqual(10);
    expect(steps.map((s) => s.step)).toEqual(steps.map((_s, i) => i + 1));
    const last = JSON.parse(events.at(-1)!.data) as { status: string };
    expect(last.status).toBe('SUCCEEDED');
    const job = await restJson<Record<string, any>>(t.url, key, `/api/training/${start.body.id}`);
    expect(job.body).toMatchObject({
      id: start.body.id,
      status: 'SUCCEEDED',
      progress: { step: steps.length, totalSteps: steps.length },
      error: null,
    });
    expect(typeof job.body.metrics.loss).toBe('number');
    expect(job.body.fineTunedModel).toMatch(/^ft:tiny:custom:/);
    // A JSON page of the same events.
    const page = await restJson<{ data: Array<{ type: string }> }>(t.url, key, `/api/training/${start.body.id}/events?limit=1000`);
    expect(page.body.data.filter((e) => e.type === 'step')).toHaveLength(steps.length);
  });

  it('cancels a queued job at once and a running job within seconds; repeating is harmless; finished jobs refuse', async () => {
    const dataset = await uploadDataset(t.url, key, qaJsonl().replace('Blue.', 'Blue, usually.'));
    const long = { ...FAST_HYPERPARAMETERS, epochs: 50 };
    const a = await restJson<Record<string, any>>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ baseModel: model, trainingDataset: dataset.id, method: 'FULL', hyperparameters: long }),
    });
    const b = await restJson<Record<string, any>>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ baseModel: model, trainingDataset: dataset.id, method: 'FULL', hyperparameters: long }),
    });
    // b waits behind a (concurrency 1): cancelling it is immediate.
    const cancelledQueued = await gql(t.url, key, CancelTrainingDocument, { jobId: b.body.id });
    expect(cancelledQueued.data?.cancelTraining.job?.status).toBe('CANCELLED');
    // a is running: wait for a few steps, then cancel.
    for (let i = 0; i < 600; i++) {
      const job = await restJson<Record<string, any>>(t.url, key, `/api/training/${a.body.id}`);
      if (job.body.progress.step >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const began = Date.now();
    const cancelled = await restJson<Record<string, any>>(t.url, key, `/api/training/${a.body.id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('CANCELLED');
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(cancelled.body.trainedTokens).toBeGreaterThan(0);
    // Charged for the tokens trained until the cancel, not the whole estimate.
    expect(Number(cancelled.body.cost)).toBeLessThan(Number(cancelled.body.estimatedCost));
    const again = await restJson<Record<string, any>>(t.url, key, `/api/training/${a.body.id}/cancel`, { method: 'POST' });
    expect(again.body.status).toBe('CANCELLED');
    // Another account cannot cancel (or see) it.
    const theirs = await restJson<Record<string, any>>(t.url, other.apiKey, `/api/training/${a.body.id}/cancel`, { method: 'POST' });
    expect(theirs.status).toBe(404);
    expect(theirs.body.code).toBe('NOT_FOUND');
    expect((await t.app.services.accounts.getAccount(accountId)).reserved_micros).toBe(0n);
  });

  it('refuses to cancel a finished job with JOB_ALREADY_FINISHED', async () => {
    const done = await t.app.services.training.list(accountId, { status: 'SUCCEEDED' });
    const jobId = done.jobs[0]!.id;
    const result = await gql(t.url, key, CancelTrainingDocument, { jobId });
    expect(result.data?.cancelTraining.errors[0]?.code).toBe('JOB_ALREADY_FINISHED');
    const rest = await restJson<Record<string, any>>(t.url, key, `/api/training/${jobId}/cancel`, { method: 'POST' });
    expect(rest.status).toBe(409);
    expect(rest.body.code).toBe('JOB_ALREADY_FINISHED');
  });

  it('another account can neither read, subscribe to, nor cancel a job', async () => {
    const { jobs } = await t.app.services.training.list(accountId);
    const jobId = jobs[0]!.id;
    expect((await restJson(t.url, other.apiKey, `/api/training/${jobId}`)).status).toBe(404);
    expect((await restJson(t.url, other.apiKey, `/api/training/${jobId}/events`)).status).toBe(404);
    const sse = await fetch(`${t.url}/api/training/${jobId}/events`, {
      headers: { authorization: `Bearer ${other.apiKey}`, accept: 'text/event-stream' },
    });
    expect(sse.status).toBe(404);
    const client = wsClient(t.url, other.apiKey);
    try {
      const results = await wsCollect<unknown>(client, TrainingProgressDocument.toString(), { jobId });
      expect((results[0]?.errors as Array<{ extensions?: { code?: string } }>)?.[0]?.extensions?.code).toBe('NOT_FOUND');
    } catch (errors) {
      expect((errors as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code).toBe('NOT_FOUND');
    } finally {
      await client.dispose();
    }
    const cancel = await gql(t.url, other.apiKey, CancelTrainingDocument, { jobId });
    expect(cancel.data?.cancelTraining.errors[0]?.code).toBe('NOT_FOUND');
  });

  it('waits for the job of a finished wait helper', async () => {
    const { jobs } = await t.app.services.training.list(accountId, { status: 'SUCCEEDED' });
    const job = await waitForJob(t.url, key, jobs[0]!.id, ['SUCCEEDED']);
    expect(job.status).toBe('SUCCEEDED');
  });
});
