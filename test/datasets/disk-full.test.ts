import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { mountTmpfs, tmpfsUnavailable } from '../helpers/tmpfs.js';
import { addTinyModel, FAST_HYPERPARAMETERS } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';
import { chatJsonl, gqlUpload, postMultipart, postRaw, tempFiles } from '../helpers/datasets-api.js';

/**
 * A full disk is a first-class error, on real full filesystems (small tmpfs mounts):
 * uploads answer 507 INSUFFICIENT_STORAGE (GraphQL: the same code) and leave nothing,
 * a trainer that cannot write its checkpoint fails the job with DISK_FULL and leaves no
 * half-written checkpoint, a job whose folder is full fails in preparation with DISK_FULL
 * and leaves no `spec.json.*.tmp`, leftovers of earlier failures are swept at start-up,
 * and /readyz is not ready while the data folder is below its free-space floor.
 */
describe.skipIf(tmpfsUnavailable !== null).each(engines())('a full disk (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let root: string;
  let dataDir: string;
  const unmount: Array<() => void> = [];
  const leftover = { job: 'ftjob_00000000000000000000000000', spec: '', checkpoint: '', output: '' };

  beforeAll(async () => {
    root = await makeTempDir('tuneloop-diskfull-');
    dataDir = join(root, 'data');
    unmount.push(mountTmpfs(dataDir, '256m'));
    unmount.push(mountTmpfs(join(dataDir, 'datasets'), '1m'));
    unmount.push(mountTmpfs(join(dataDir, 'jobs'), '16m'));
    // What an earlier process left when the disk filled up: swept at start-up (no job of theirs is running).
    const job = join(dataDir, 'jobs', leftover.job);
    leftover.spec = join(job, 'spec.json.4242.tmp');
    leftover.checkpoint = join(job, 'checkpoints', '.tmp-step-00000004');
    leftover.output = join(job, 'output', '.tmp-model');
    for (const dir of [leftover.checkpoint, leftover.output]) await mkdir(dir, { recursive: true });
    await writeFile(leftover.spec, '{"half": ');
    await writeFile(join(leftover.checkpoint, 'model.safetensors.tmp-4242'), Buffer.alloc(1024));
    t = await startTestApp(engine, { worker: true, dataDir, config: { minFreeBytes: 64 * 1024 * 1024 } });
    ({ apiKey: key } = await t.account('full'));
    await addTinyModel(t);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    for (const u of unmount.reverse()) u();
    await rm(root, { recursive: true, force: true });
  });

  it('sweeps spec.json.*.tmp and half-written checkpoints and outputs of jobs that are not running, at start-up', async () => {
    const deadline = Date.now() + 20_000;
    const left = async () => (await readdir(join(dataDir, 'jobs', leftover.job), { recursive: true })).sort();
    while (Date.now() < deadline && (await left()).length > 2) await new Promise((r) => setTimeout(r, 100));
    expect(await left()).toEqual(['checkpoints', 'output']);
  });

  it('answers an upload that fills the disk with 507 INSUFFICIENT_STORAGE (REST raw and multipart, GraphQL) and keeps nothing', async () => {
    const big = chatJsonl(8_000, ' a fairly long line so that the file is well over one megabyte');
    expect(Buffer.byteLength(big)).toBeGreaterThan(1 << 20);
    for (const answer of [await postRaw(t, key, big), await postMultipart(t, key, big)]) {
      expect([answer.status, answer.body.code]).toEqual([507, 'INSUFFICIENT_STORAGE']);
      expect(answer.body.detail).toMatch(/ran out of disk space/);
    }
    const viaGql = await gqlUpload<{ uploadDataset: { dataset: null; errors: Array<{ code: string; message: string }> } }>(
      t,
      key,
      'mutation($input: UploadDatasetInput!) { uploadDataset(input: $input) { dataset { id } errors { code message } } }',
      big,
    );
    expect(viaGql.body.data?.uploadDataset).toEqual({
      dataset: null,
      errors: [{ code: 'INSUFFICIENT_STORAGE', message: expect.stringMatching(/ran out of disk space/) }],
    });
    expect(await tempFiles(t)).toEqual([]);
    // Space is back: a file that fits is stored.
    expect((await postRaw(t, key, chatJsonl(12, ' fits'))).status).toBe(201);
  });

  it('fails a job whose folder cannot take its spec with DISK_FULL in preparation, leaving no spec.json.*.tmp', async () => {
    const dataset = await uploadDataset(t.url, key, qaJsonl());
    expect(dataset.status).toBe('READY');
    const filler = join(dataDir, 'jobs', 'filler');
    await writeFile(filler, Buffer.alloc(17 * 1024 * 1024)).catch(() => {}); // fills the 16 MB disk to the last block (ENOSPC)
    try {
      const started = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
        method: 'POST',
        body: JSON.stringify({ baseModel: 'tiny', trainingDataset: dataset.id, method: 'FULL', hyperparameters: FAST_HYPERPARAMETERS }),
      });
      expect(started.status).toBe(201);
      const job = await waitForJob(t.url, key, started.body.id, ['FAILED', 'SUCCEEDED']);
      expect(job.error).toEqual({ code: 'DISK_FULL', message: expect.stringMatching(/ran out of space while preparing the job/) });
      const folder = await readdir(join(dataDir, 'jobs', started.body.id)).catch(() => []);
      expect(folder.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    } finally {
      await rm(filler, { force: true });
    }
  }, 180_000);

  it('fails a job whose checkpoint does not fit with DISK_FULL (not INTERNAL) and leaves no half-written checkpoint', async () => {
    const dataset = await uploadDataset(t.url, key, qaJsonl());
    const started = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: dataset.id,
        method: 'FULL',
        hyperparameters: { ...FAST_HYPERPARAMETERS, checkpointEvery: 1 },
      }),
    });
    expect(started.status).toBe(201);
    const job = await waitForJob(t.url, key, started.body.id, ['FAILED', 'SUCCEEDED'], 300_000);
    expect(job.error).toEqual({ code: 'DISK_FULL', message: expect.stringMatching(/ran out of space while writing a checkpoint/) });
    const checkpoints = await readdir(join(dataDir, 'jobs', started.body.id, 'checkpoints'));
    expect(checkpoints.filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  }, 360_000);

  it('is not ready while the data folder has less free space than TUNELOOP_MIN_FREE_BYTES, and ready again once freed', async () => {
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    const filler = join(dataDir, 'filler');
    await writeFile(filler, Buffer.alloc(220 * 1024 * 1024)).catch(() => {});
    try {
      const response = await fetch(`${t.url}/readyz`);
      const body = (await response.json()) as { code: string; detail: string };
      expect([response.status, body.code]).toEqual([503, 'NOT_READY']);
      expect(body.detail).toMatch(/the data folder has .* free, less than the 64 MB floor \(TUNELOOP_MIN_FREE_BYTES\)/);
    } finally {
      await rm(filler, { force: true });
    }
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
  });
});
