import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql } from '../helpers/clients.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset } from '../../src/dev/rest-client.js';
import { startReceiver } from '../helpers/webhook-receiver.js';
import type { Receiver } from '../helpers/webhook-receiver.js';
import { PauseTrainingDocument, ResumeTrainingDocument, TrainingJobDocument } from '../generated/graphql.js';
import { claimNextJob } from '../../src/training/queue/claim-next-job.js';
import { renewLease } from '../../src/training/queue/renew-lease.js';
import { sweepExpiredLeases } from '../../src/training/queue/sweep-expired-leases.js';
import { tokenCost } from '../../src/training/hyperparameters.js';
import { redactServerPaths } from '../../src/training/redact-paths.js';
import { checkpointId, parseCheckpointId } from '../../src/training/checkpoints.js';

type Job = Record<string, any>;

/**
 * The job lifecycle's statements on a real database, without a trainer: an api-only app
 * (jobs stay QUEUED), with the queue's own claim / heartbeat / sweep statements playing a
 * worker. The real trainer goes through the same states in pause-resume.test.ts.
 */
describe.each(engines())('job lifecycle: pause, resume, cancel (%s)', (engine) => {
  let t: TestApp;
  let receiver: Receiver;
  let key: string;
  let accountId: string;
  let other: { apiKey: string };
  let datasetId: string;

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTestApp(engine, { config: { webhookAllowPrivate: true, webhookRetryFactor: 0.001 } });
    await addTinyModel(t, 'tiny', 2_000_000_000n);
    ({ apiKey: key, accountId } = await t.account('owner', 1_000_000_000n));
    other = await t.account('other', 1_000_000_000n);
    datasetId = (await uploadDataset(t.url, key, qaJsonl())).id;
    const endpoint = await restJson(t.url, key, '/api/webhooks', {
      method: 'POST',
      body: JSON.stringify({
        url: `${receiver.url}/endpoint`,
        events: ['training.started', 'training.paused', 'training.resumed', 'training.cancelled'],
      }),
    });
    expect(endpoint.status).toBe(201);
  });
  afterAll(async () => {
    if (t) await expectLedgerConsistent(t.app.services.db);
    await t?.stop();
    await receiver?.close();
  });

  const start = async (): Promise<Job> => {
    const r = await restJson<Job>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: datasetId,
        hyperparameters: { epochs: 1, maxSeqLength: 64 },
        webhookUrl: `${receiver.url}/job`,
      }),
    });
    expect(r.status).toBe(201);
    return r.body;
  };
  const post = (jobId: string, action: 'pause' | 'resume' | 'cancel', apiKey = key) =>
    restJson<Job>(t.url, apiKey, `/api/training/${jobId}/${action}`, { method: 'POST' });
  const statuses = async (jobId: string) =>
    (await t.app.services.training.events(accountId, jobId, { types: ['status'], first: 1000 })).events.map((e) => e.status);
  const reserved = async () => (await t.app.services.accounts.getAccount(accountId)).reserved_micros;
  const hooks = (jobId: string, path: string) =>
    receiver.received.filter((r) => r.path === path && r.json.data.jobId === jobId && r.status < 300).map((r) => r.json.type);
  /** Claims the next queued job as a worker would (the real statement), returning its id. */
  const claim = async (workerId: string) => (await claimNextJob(t.app.services.db, t.app.services, workerId, 30))?.id;

  it('pauses a queued job at once and keeps its reservation; resuming queues it behind the others', async () => {
    const before = await reserved();
    const a = await start();
    const b = await start();
    const paused = await gql(t.url, key, PauseTrainingDocument, { jobId: a.id });
    expect(paused.data?.pauseTraining).toEqual({ job: { id: a.id, status: 'PAUSED', pauseRequested: false }, errors: [] });
    // Repeating is harmless; the reservation stays while the job is paused.
    expect((await post(a.id, 'pause')).body.status).toBe('PAUSED');
    expect(await reserved()).toBe(before + BigInt(Math.round(Number(a.estimatedCost) * 1e6)) * 2n);
    // A worker skips the paused job.
    expect(await claim('test-worker-1')).toBe(b.id);
    expect(await claim('test-worker-1')).toBeUndefined();

    const resumed = await post(a.id, 'resume');
    expect(resumed.status).toBe(200);
    expect(resumed.body.status).toBe('QUEUED');
    expect(Date.parse(resumed.body.queuedAt)).toBeGreaterThan(Date.parse(a.queuedAt));
    expect(await statuses(a.id)).toEqual(['QUEUED', 'PAUSED', 'QUEUED']);
    // Resuming a job that is not paused changes nothing.
    expect((await gql(t.url, key, ResumeTrainingDocument, { jobId: a.id })).data?.resumeTraining.job?.status).toBe('QUEUED');
    expect(await statuses(a.id)).toEqual(['QUEUED', 'PAUSED', 'QUEUED']);

    // Endpoints that ask for them get training.paused and training.resumed; the job's own URL does not.
    await receiver.waitFor(() => hooks(a.id, '/endpoint').includes('training.resumed'));
    expect(hooks(a.id, '/endpoint')).toEqual(['training.paused', 'training.resumed']);
    const pausedHook = receiver.received.find((r) => r.json.data.jobId === a.id && r.json.type === 'training.paused')!;
    expect(pausedHook.json.data).toMatchObject({ jobId: a.id, status: 'PAUSED' });
    await receiver.waitFor(() => hooks(b.id, '/job').includes('training.started'));
    expect(hooks(a.id, '/job')).toEqual([]);
    await t.app.services.training.cancel(accountId, a.id);
  });

  it('cancels a paused job at once, charging only the tokens it trained before the pause', async () => {
    const before = await reserved();
    const a = await start();
    await post(a.id, 'pause');
    // As if a worker had trained 100 tokens before the pause.
    await t.app.services.db.updateTable('training_jobs').set({ trained_tokens: 100n }).where('id', '=', a.id).execute();
    const cancelled = await post(a.id, 'cancel');
    expect(cancelled.body.status).toBe('CANCELLED');
    expect(cancelled.body.cost).toBe((Number(tokenCost(100n, 2_000_000_000n)) / 1e6).toFixed(6));
    expect(await reserved()).toBe(before);
    expect(await statuses(a.id)).toEqual(['QUEUED', 'PAUSED', 'CANCELLED']);
    await expectLedgerConsistent(t.app.services.db);
  });

  it('a running job pauses through its worker; a pause can be withdrawn; a lost worker leaves it PAUSED; started is announced once', async () => {
    const db = t.app.services.db;
    const a = await start();
    expect(await claim('test-worker-2')).toBe(a.id);
    // No worker process answers here, so the job stays RUNNING with the request stamped.
    await t.app.services.training.pause(accountId, a.id);
    const requested = await gql(t.url, key, TrainingJobDocument, { id: a.id });
    expect(requested.data?.trainingJob).toMatchObject({ status: 'RUNNING', pauseRequested: true });
    expect(await renewLease(db, a.id, 'test-worker-2', 30)).toEqual({ held: true, cancelRequested: false, pauseRequested: true });

    // Resuming before the trainer stopped withdraws the pause.
    const withdrawn = await post(a.id, 'resume');
    expect(withdrawn.body).toMatchObject({ status: 'RUNNING', pauseRequested: false });
    expect(await renewLease(db, a.id, 'test-worker-2', 30)).toEqual({ held: true, cancelRequested: false, pauseRequested: false });

    // Paused again, then the worker is lost: the sweeper parks the job as PAUSED, not QUEUED.
    await t.app.services.training.pause(accountId, a.id);
    await db
      .updateTable('training_jobs')
      .set({ lease_expires_at: new Date(Date.now() - 1_000) })
      .where('id', '=', a.id)
      .execute();
    expect(await sweepExpiredLeases(db, t.app.services)).toBe(1);
    const parked = (await restJson<Job>(t.url, key, `/api/training/${a.id}`)).body;
    expect(parked).toMatchObject({ status: 'PAUSED', pauseRequested: false, attempts: 1 });
    expect(parked.cost).toBe('0.000000');
    expect(await reserved()).toBeGreaterThan(0n);

    await post(a.id, 'resume');
    expect(await claim('test-worker-3')).toBe(a.id);
    expect(await statuses(a.id)).toEqual(['QUEUED', 'RUNNING', 'PAUSED', 'QUEUED', 'RUNNING']);
    await receiver.waitFor(() => hooks(a.id, '/endpoint').filter((h) => h === 'training.resumed').length === 1);
    // training.started went out on the first start only, not again when the job ran after its resume.
    await new Promise((r) => setTimeout(r, 500));
    expect(hooks(a.id, '/endpoint').filter((h) => h === 'training.started')).toHaveLength(1);
    expect(hooks(a.id, '/job')).toEqual(['training.started']);
  });

  it('refuses what cannot be done with a specific code; another account’s job answers as missing', async () => {
    const a = await start();
    await post(a.id, 'cancel');
    for (const action of ['pause', 'resume'] as const) {
      const rest = await post(a.id, action);
      expect(rest.status).toBe(409);
      expect(rest.body.code).toBe('JOB_ALREADY_FINISHED');
    }
    expect((await gql(t.url, key, PauseTrainingDocument, { jobId: a.id })).data?.pauseTraining.errors[0]?.code).toBe(
      'JOB_ALREADY_FINISHED',
    );

    // A job still waiting for its dataset's validation holds no reservation yet: it cannot be paused.
    const db = t.app.services.db;
    const waiting = await start();
    await db.updateTable('training_jobs').set({ status: 'VALIDATING' }).where('id', '=', waiting.id).execute();
    const refused = await post(waiting.id, 'pause');
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('JOB_NOT_PAUSABLE');
    await db.updateTable('training_jobs').set({ status: 'QUEUED' }).where('id', '=', waiting.id).execute();
    await post(waiting.id, 'cancel');

    const b = await start();
    for (const action of ['pause', 'resume', 'cancel'] as const) {
      const theirs = await post(b.id, action, other.apiKey);
      expect(theirs.status).toBe(404);
      expect(theirs.body.code).toBe('NOT_FOUND');
    }
    expect((await restJson<Job>(t.url, other.apiKey, `/api/training/${b.id}/checkpoints`)).status).toBe(404);
    expect((await gql(t.url, other.apiKey, ResumeTrainingDocument, { jobId: b.id })).data?.resumeTraining.errors[0]?.code).toBe(
      'NOT_FOUND',
    );
    expect((await post('ftjob_00000000000000000000000000', 'pause')).status).toBe(404);
    // Untouched by the attempts.
    expect((await gql(t.url, key, TrainingJobDocument, { id: b.id })).data?.trainingJob?.status).toBe('QUEUED');
    const empty = await restJson<Job>(t.url, key, `/api/training/${b.id}/checkpoints`);
    expect(empty.body).toEqual({ object: 'list', data: [] });
    await post(b.id, 'cancel');
  });

  it('error messages name checkpoints by id and the data folder as <data-dir>, never by server path', () => {
    const dir = t.config.dataDir;
    const message = `checkpoint ${dir}/jobs/ftjob_x/checkpoints/step-00000012 was made with seed=1; see ${dir}/jobs/ftjob_x/spec.json`;
    const safe = redactServerPaths(message, dir);
    expect(safe).toBe('checkpoint ckpt-step-12 was made with seed=1; see <data-dir>/jobs/ftjob_x/spec.json');
    expect(redactServerPaths(`${dir}-other/file`, dir)).toBe(`${dir}-other/file`);
    expect(checkpointId(40)).toBe('ckpt-step-40');
    expect(parseCheckpointId('ckpt-step-40')).toBe(40);
    expect(parseCheckpointId('ckpt-step-0')).toBeUndefined();
    expect(parseCheckpointId('/tmp/step-00000040')).toBeUndefined();
  });
});
