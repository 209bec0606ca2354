import fs from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase } from '../helpers/db.js';
import { makeTempDir } from '../helpers/app.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { runCli, spawnTuneloop, startServe, startWorker } from '../../src/dev/tuneloop-process.js';
import type { TuneloopProcess } from '../../src/dev/tuneloop-process.js';
import { wsClient } from '../helpers/clients.js';
import { FAST_HYPERPARAMETERS } from '../helpers/training.js';
import { QA, qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';

/**
 * `serve` and `worker` as separate processes on the PostgreSQL server, sharing one data
 * folder, the way a fleet runs: crash recovery, exactly-once claiming and resubscription.
 */
describe('training across processes (PostgreSQL server)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let apiKey: string;
  let accountId: string;
  const procs: TuneloopProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('multiproc');
    dataDir = await makeTempDir('tuneloop-multiproc-');
    env = { DATABASE_URL: database.url, TUNELOOP_DATA_DIR: dataDir, TUNELOOP_LEASE_SECONDS: '8' };
    await runCli(['migrate'], env);
    await runCli(['models', 'import', await tinyModelFolder(), '--id', 'tiny', '--fine-tunable', '--price-per-mtok', '2'], env);
    ({ apiKey, accountId } = JSON.parse(await runCli(['accounts', 'create', '--name', 'fleet', '--balance', '10'], env)) as {
      apiKey: string;
      accountId: string;
    });
  });

  // A failed test must not leave its workers claiming the next test's jobs.
  afterEach(async () => {
    for (const p of procs.splice(0)) p.kill('SIGKILL');
  });

  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await database?.drop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  const track = <T extends TuneloopProcess>(p: T): T => {
    procs.push(p);
    return p;
  };

  async function stepRows(jobId: string): Promise<number[]> {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ step: number }>(
        `select step from training_events where job_id = $1 and type = 'step' order by seq`,
        [jobId],
      );
      return rows.map((r) => r.step);
    } finally {
      await client.end();
    }
  }

  it('two workers, three jobs: each job runs exactly once', { timeout: 400_000 }, async () => {
    const api = track(await startServe(env));
    const w1 = track(await startWorker(env));
    const w2 = track(await startWorker(env));
    const dataset = await uploadDataset(api.url, apiKey, qaJsonl());
    const jobs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await restJson<{ id: string }>(api.url, apiKey, '/api/fine-tune/training/start', {
        method: 'POST',
        body: JSON.stringify({
          baseModel: 'tiny',
          trainingDataset: dataset.id,
          method: 'FULL',
          hyperparameters: { ...FAST_HYPERPARAMETERS, epochs: 1, seed: i },
        }),
      });
      expect(r.status).toBe(201);
      jobs.push(r.body.id);
    }
    for (const id of jobs) {
      const job = await waitForJob(api.url, apiKey, id, ['SUCCEEDED', 'FAILED'], 180_000);
      expect(job.status).toBe('SUCCEEDED');
      expect(job.attempts).toBe(1);
      const steps = await stepRows(id);
      expect(steps).toEqual(steps.map((_s, i) => i + 1));
    }
    if (process.env.DEBUG_LOGS)
      for (const l of [...w1.logs, ...w2.logs, ...api.logs])
        if ((l.level as number) >= 40 || /claimed|left|re-queued/.test(String(l.msg))) console.log(JSON.stringify(l).slice(0, 400));
    const claims = [...w1.logs, ...w2.logs].filter((l) => l.msg === 'claimed training job').map((l) => l.jobId);
    expect(claims.sort()).toEqual([...jobs].sort());
    for (const p of [w1, w2]) p.kill('SIGTERM');
    const exits = await Promise.all([w1.exited, w2.exited]);
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    api.kill('SIGTERM');
    expect((await api.exited).code).toBe(0);
  });

  it('kill -9 of the worker mid-training: another worker resumes from a checkpoint, no step missing or repeated', {
    timeout: 400_000,
  }, async () => {
    const api = track(await startServe(env));
    const doomed = track(await startWorker(env));
    const dataset = await uploadDataset(api.url, apiKey, qaJsonl(QA.slice().reverse()));
    const started = await restJson<{ id: string }>(api.url, apiKey, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: dataset.id,
        method: 'FULL',
        hyperparameters: { ...FAST_HYPERPARAMETERS, epochs: 3, checkpointEvery: 2 },
      }),
    });
    const jobId = started.body.id;
    // Wait until a checkpoint exists and training has moved past it.
    for (let i = 0; ; i++) {
      const job = await restJson<Record<string, any>>(api.url, apiKey, `/api/training/${jobId}`);
      if (job.body.progress.step >= 5) break;
      if (i > 1200) throw new Error('job did not progress');
      await new Promise((r) => setTimeout(r, 100));
    }
    doomed.kill('SIGKILL');
    await doomed.exited;
    const rescuer = track(await startWorker(env));
    const job = await waitForJob(api.url, apiKey, jobId, ['SUCCEEDED', 'FAILED'], 180_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.attempts).toBe(2);
    expect(job.resumedFromStep).toBeGreaterThan(0);
    const steps = await stepRows(jobId);
    expect(steps).toEqual(Array.from({ length: job.progress.totalSteps }, (_v, i) => i + 1));
    const events = await restJson<{ data: Array<{ type: string; status: string }> }>(
      api.url,
      apiKey,
      `/api/training/${jobId}/events?limit=1000`,
    );
    expect(events.body.data.filter((e) => e.type === 'status').map((e) => e.status)).toEqual([
      'QUEUED',
      'RUNNING',
      'QUEUED',
      'RUNNING',
      'SUCCEEDED',
    ]);
    rescuer.kill('SIGTERM');
    api.kill('SIGTERM');
    await Promise.all([rescuer.exited, api.exited]);
  });

  it('restarting the api under a subscriber: resubscribing with afterStep sees every step exactly once', { timeout: 400_000 }, async () => {
    let api = track(await startServe(env));
    const worker = track(await startWorker(env));
    const dataset = await uploadDataset(api.url, apiKey, qaJsonl(QA.slice(2)));
    const started = await restJson<{ id: string }>(api.url, apiKey, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: dataset.id,
        method: 'FULL',
        hyperparameters: { ...FAST_HYPERPARAMETERS, epochs: 4 },
      }),
    });
    const jobId = started.body.id;
    const seen: number[] = [];
    let lastStatus = '';
    const query =
      'subscription($jobId: ID!, $afterStep: Int) { trainingProgress(jobId: $jobId, afterStep: $afterStep) { kind step status } }';

    const follow = (url: string, afterStep: number | null, stopAfter: number | null) =>
      new Promise<'completed' | 'closed'>((resolve) => {
        const client = wsClient(url, apiKey);
        let done = false;
        const finish = (how: 'completed' | 'closed') => {
          if (done) return;
          done = true;
          void client.dispose();
          resolve(how);
        };
        client.subscribe<{ trainingProgress: { kind: string; step: number; status: string } }>(
          { query, variables: { jobId, afterStep } },
          {
            next: ({ data }) => {
              const e = data!.trainingProgress;
              if (e.kind === 'STEP') seen.push(e.step);
              lastStatus = e.status;
              if (stopAfter !== null && seen.length >= stopAfter) finish('closed');
            },
            error: () => finish('closed'),
            complete: () => finish('completed'),
          },
        );
      });

    // Follow until a few steps arrived, then the api goes away under the client.
    const firstLeg = follow(api.url, null, null);
    for (let i = 0; seen.length < 3; i++) {
      if (i > 1200) throw new Error('no steps arrived');
      await new Promise((r) => setTimeout(r, 100));
    }
    api.kill('SIGTERM');
    expect(await firstLeg).toBe('closed');
    expect((await api.exited).code).toBe(0);
    api = track(await startServe(env));
    const afterStep = seen.at(-1)!;
    expect(await follow(api.url, afterStep, null)).toBe('completed');
    expect(lastStatus).toBe('SUCCEEDED');
    const total = (await restJson<Record<string, any>>(api.url, apiKey, `/api/training/${jobId}`)).body.progress.totalSteps as number;
    expect(seen).toEqual(Array.from({ length: total }, (_v, i) => i + 1));
    worker.kill('SIGTERM');
    api.kill('SIGTERM');
    await Promise.all([worker.exited, api.exited]);
    void accountId;
  });

  it('SIGTERM to a `start` process with a job running: the trainer checkpoints, the job goes back to the queue, the next worker resumes it', {
    timeout: 400_000,
  }, async () => {
    const proc = track(spawnTuneloop(['start'], env));
    await proc.waitForLog((l) => l.msg === 'tuneloop api listening');
    const url = proc.url!;
    const dataset = await uploadDataset(url, apiKey, qaJsonl(QA.slice(1)));
    const started = await restJson<{ id: string }>(url, apiKey, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: dataset.id,
        method: 'FULL',
        hyperparameters: { ...FAST_HYPERPARAMETERS, epochs: 4, checkpointEvery: 1000 },
      }),
    });
    const jobId = started.body.id;
    for (let i = 0; ; i++) {
      const job = await restJson<Record<string, any>>(url, apiKey, `/api/training/${jobId}`);
      if (job.body.progress.step >= 3) break;
      if (i > 1200) throw new Error('job did not progress');
      await new Promise((r) => setTimeout(r, 100));
    }
    const signalled = Date.now();
    proc.kill('SIGTERM');
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);

    const api = track(await startServe(env));
    const handedBack = await restJson<Record<string, any>>(api.url, apiKey, `/api/training/${jobId}`);
    expect(handedBack.body.status).toBe('QUEUED');
    expect(handedBack.body.attempts).toBe(0); // a graceful hand-back does not use up an attempt
    const worker = track(await startWorker(env));
    const job = await waitForJob(api.url, apiKey, jobId, ['SUCCEEDED', 'FAILED'], 180_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.resumedFromStep).toBeGreaterThanOrEqual(3);
    const steps = await stepRows(jobId);
    expect(steps).toEqual(Array.from({ length: job.progress.totalSteps }, (_v, i) => i + 1));
    worker.kill('SIGTERM');
    api.kill('SIGTERM');
    await Promise.all([worker.exited, api.exited]);
  });
});
