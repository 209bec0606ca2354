import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql, wsClient, wsCollect } from '../helpers/clients.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { FAST_HYPERPARAMETERS, addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';
import { PauseTrainingDocument, TrainingJobDocument, TrainingProgressDocument } from '../generated/graphql.js';
import type { TrainingProgressSubscription } from '../generated/graphql.js';

type Job = Record<string, any>;

/**
 * Pause → resume → SUCCEEDED with the real trainer (api + worker in one process): the
 * trainer is stopped by SIGTERM at a step boundary and checkpoints, the worker is free
 * for other jobs while the job is PAUSED, and the resumed run continues from that
 * checkpoint — every step stored and streamed exactly once, billed exactly like an
 * uninterrupted run. Checkpoints are named by step, never by server path.
 */
describe.each(engines())('pause and resume a training job (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let accountId: string;
  let datasetId: string;

  beforeAll(async () => {
    t = await startTestApp(engine, { worker: true });
    ({ apiKey: key, accountId } = await t.account('pauser', 100_000_000n));
    await addTinyModel(t);
    datasetId = (await uploadDataset(t.url, key, qaJsonl())).id;
  });
  afterAll(async () => {
    if (t) await expectLedgerConsistent(t.app.services.db);
    await t?.stop();
  });

  const startJob = async (hyperparameters: Record<string, unknown>) => {
    const r = await restJson<Job>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ baseModel: 'tiny', trainingDataset: datasetId, method: 'FULL', hyperparameters }),
    });
    expect(r.status).toBe(201);
    return r.body;
  };
  const getJob = async (id: string) => (await restJson<Job>(t.url, key, `/api/training/${id}`)).body;

  it('pauses at a checkpoint, frees the worker, resumes from there: no step missing or repeated', { timeout: 300_000 }, async () => {
    // 8 epochs of 6 packed steps; checkpoints only at epoch ends and on the pause.
    const epochs = 8;
    const job = await startJob({ ...FAST_HYPERPARAMETERS, epochs, checkpointEvery: 1000 });
    const client = wsClient(t.url, key);
    const events: TrainingProgressSubscription['trainingProgress'][] = [];
    let pausedStep = 0;
    const watched = wsCollect<TrainingProgressSubscription>(client, TrainingProgressDocument.toString(), { jobId: job.id }, (r) => {
      if (r.data) events.push(r.data.trainingProgress);
    });
    try {
      for (let i = 0; i < 1200 && (await getJob(job.id)).progress.step < 3; i++) await new Promise((r) => setTimeout(r, 100));

      const paused = await gql(t.url, key, PauseTrainingDocument, { jobId: job.id });
      expect(paused.data?.pauseTraining.errors).toEqual([]);
      const atPause =
        paused.data?.pauseTraining.job?.status === 'PAUSED' ? await getJob(job.id) : await waitForJob(t.url, key, job.id, ['PAUSED']);
      expect(atPause).toMatchObject({ status: 'PAUSED', pauseRequested: false, error: null, finishedAt: null, cost: '0.000000' });
      pausedStep = atPause.progress.step;
      expect(pausedStep).toBeGreaterThanOrEqual(3);
      expect(pausedStep).toBeLessThan(atPause.progress.totalSteps);
      // The reservation stays; the job is not failed, and no worker holds it.
      expect((await t.app.services.accounts.getAccount(accountId)).reserved_micros).toBe(
        BigInt(Math.round(Number(atPause.estimatedCost) * 1e6)),
      );
      const row = await t.app.services.training.get(accountId, job.id);
      expect([row.worker_id, row.lease_expires_at]).toEqual([null, null]);

      // The checkpoint written on the pause is listed by its step, with the loss of that step.
      const stored = await t.app.services.training.events(accountId, job.id, { types: ['step'], first: 1000 });
      expect(stored.events.map((e) => e.step)).toEqual(Array.from({ length: pausedStep }, (_v, i) => i + 1));
      const lossAt = (step: number) => (stored.events.find((e) => e.step === step)!.payload as { loss: number }).loss;
      const listed = await restJson<{ data: Job[] }>(t.url, key, `/api/training/${job.id}/checkpoints`);
      expect(listed.status).toBe(200);
      const pauseCheckpoint = listed.body.data.at(-1)!;
      expect(pauseCheckpoint).toMatchObject({
        id: `ckpt-step-${pausedStep}`,
        step: pausedStep,
        metrics: { trainLoss: lossAt(pausedStep), evalLoss: null },
      });
      expect(Date.parse(pauseCheckpoint.createdAt)).toBeGreaterThan(0);

      // The worker is free: another job runs to the end while this one is paused.
      const other = await startJob({ ...FAST_HYPERPARAMETERS, epochs: 1, seed: 7 });
      expect((await waitForJob(t.url, key, other.id, ['SUCCEEDED', 'FAILED'])).status).toBe('SUCCEEDED');
      expect(await getJob(job.id)).toMatchObject({ status: 'PAUSED', progress: { step: pausedStep } });

      const resumed = await restJson<Job>(t.url, key, `/api/training/${job.id}/resume`, { method: 'POST' });
      expect(resumed.status).toBe(200);
      expect(['QUEUED', 'RUNNING']).toContain(resumed.body.status);
      await watched;
    } finally {
      await client.dispose();
    }

    // The subscription watched through the pause: every step exactly once, in order.
    const total: number = (await getJob(job.id)).progress.totalSteps;
    const steps = events.filter((e) => e.kind === 'STEP').map((e) => e.step);
    expect(steps).toEqual(Array.from({ length: total }, (_v, i) => i + 1));
    expect(events.filter((e) => e.kind === 'STATUS').map((e) => e.status)).toEqual([
      'QUEUED',
      'RUNNING',
      'PAUSED',
      'QUEUED',
      'RUNNING',
      'SUCCEEDED',
    ]);
    const done = await getJob(job.id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', resumedFromStep: pausedStep, progress: { step: total }, attempts: 1 });
    const stored = await t.app.services.training.events(accountId, job.id, { types: ['step'], first: 1000 });
    expect(stored.events.map((e) => e.step)).toEqual(steps);
    // Billed like an uninterrupted full run: every token once, exactly the estimate.
    expect(done.cost).toBe(done.estimatedCost);
    expect((await t.app.services.accounts.getAccount(accountId)).reserved_micros).toBe(0n);

    // Checkpoints: the newest ones kept by the trainer, each named by step; the pause's is gone with the others it removed.
    const graphql = (await gql(t.url, key, TrainingJobDocument, { id: job.id })).data!.trainingJob!;
    const ids = graphql.checkpoints.map((c) => c.id);
    const perEpoch = total / epochs;
    expect(ids).toEqual([`ckpt-step-${total - perEpoch}`, `ckpt-step-${total}`]);
    expect(pausedStep).toBeLessThan(total - perEpoch);
    for (const c of graphql.checkpoints) {
      const loss = (stored.events.find((e) => e.step === c.step)!.payload as { loss: number }).loss;
      expect(c.metrics).toEqual({ trainLoss: loss, evalLoss: null });
    }

    // Nothing a client can read names a server path: events (JSON and their checkpoint ids), job, checkpoints.
    const page = await restJson<{ data: Job[] }>(t.url, key, `/api/training/${job.id}/events?limit=1000`);
    const checkpointEvents = page.body.data.filter((e) => e.type === 'checkpoint');
    expect(checkpointEvents.map((e) => e.checkpointId)).toEqual(checkpointEvents.map((e) => `ckpt-step-${e.step}`));
    expect(checkpointEvents.map((e) => e.step)).toContain(pausedStep);
    const everything = JSON.stringify([page.body, done, graphql, (await restJson(t.url, key, `/api/training/${job.id}/checkpoints`)).body]);
    expect(everything).not.toContain(t.config.dataDir);
    expect(everything).not.toMatch(/"path"|\/checkpoints\//);
  });

  it('cancels a paused job: CANCELLED, charged for the steps it trained', { timeout: 300_000 }, async () => {
    const job = await startJob({ ...FAST_HYPERPARAMETERS, epochs: 4, checkpointEvery: 1000, seed: 3 });
    for (let i = 0; i < 1200 && (await getJob(job.id)).progress.step < 2; i++) await new Promise((r) => setTimeout(r, 100));
    const paused = await t.app.services.training.pause(accountId, job.id, { waitMs: 60_000 });
    expect(paused.status).toBe('PAUSED');
    const cancelled = await restJson<Job>(t.url, key, `/api/training/${job.id}/cancel`, { method: 'POST' });
    expect(cancelled.body).toMatchObject({ status: 'CANCELLED', trainedTokens: Number(paused.trained_tokens) });
    expect(Number(cancelled.body.cost)).toBeGreaterThan(0);
    expect(Number(cancelled.body.cost)).toBeLessThan(Number(cancelled.body.estimatedCost));
    expect((await t.app.services.accounts.getAccount(accountId)).reserved_micros).toBe(0n);
  });
});
