/**
 * Quantized deployments (INT8, INT4): a tiny model fine-tuned by the real trainer until it
 * memorised a Q&A set is deployed as float32, INT8 and INT4 (real quantize-onnx, real
 * onnxruntime-node); the quantized deployments answer over /v1 — streamed and not — like
 * the float32 one, report what their weights take, reuse the cached quantized export, and
 * refuse a damaged one or a request they cannot serve with a clear error.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql } from '../helpers/clients.js';
import { addTinyModel } from '../helpers/training.js';
import { QA, qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';
import { DeployModelQuantizedDocument, DeploymentWeightsDocument, SetModelDefaultQuantizationDocument } from '../generated/graphql.js';
import { post, sseData } from '../helpers/inference.js';

/** Every pair once is enough examples for the validator (≥ 10); the epochs make it stick. */
const HYPERPARAMETERS = { epochs: 40, batchSize: 1, learningRate: 0.003, maxSeqLength: 64, warmupSteps: 2, checkpointEvery: 1000 };

/** Trains the tiny model on QA through the real worker and trainer; returns a copy of the fine-tuned folder. */
async function memorisedModelFolder(): Promise<string> {
  const t = await startTestApp('pglite', { worker: true });
  try {
    const key = (await t.account('trainer', 100_000_000n)).apiKey;
    await addTinyModel(t, 'tiny', 0n);
    const dataset = await uploadDataset(t.url, key, qaJsonl(QA));
    const started = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ baseModel: 'tiny', trainingDataset: dataset.id, method: 'FULL', hyperparameters: HYPERPARAMETERS }),
    });
    const job = await waitForJob(t.url, key, started.body.id, ['SUCCEEDED', 'FAILED'], 500_000);
    if (job.status !== 'SUCCEEDED') throw new Error(`training failed: ${JSON.stringify(job.error)}`);
    const model = await t.app.services.db
      .selectFrom('models')
      .select('storage_path')
      .where('id', '=', job.fineTunedModel as string)
      .executeTakeFirstOrThrow();
    const copy = path.join(await makeTempDir('tuneloop-memorised-'), 'model');
    await fs.cp(model.storage_path, copy, { recursive: true });
    return copy;
  } finally {
    await t.stop();
  }
}

type Chat = { status: number; body: { choices: Array<{ message: { content: string } }>; error?: { code: string } } };

async function chat(t: TestApp, key: string, question: string): Promise<string> {
  const r = await restJson<Chat['body']>(t.url, key, '/v1/chat/completions', {
    method: 'POST',
    body: JSON.stringify({ model: 'qa', messages: [{ role: 'user', content: question }], temperature: 0, max_tokens: 24 }),
  });
  expect(r.status).toBe(200);
  return r.body.choices[0]!.message.content;
}

async function streamedChat(t: TestApp, key: string, question: string): Promise<string> {
  const response = await post(t, key, '/v1/chat/completions', {
    model: 'qa',
    messages: [{ role: 'user', content: question }],
    temperature: 0,
    max_tokens: 24,
    stream: true,
  });
  expect(response.status).toBe(200);
  const data = await sseData(response);
  expect(data.at(-1)).toBe('[DONE]');
  return data
    .slice(0, -1)
    .map((d) => (JSON.parse(d) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
    .join('');
}

interface DeploymentJson {
  id: string;
  status: string;
  error: string | null;
  quantization: string;
  weightBytesOnDisk: number | null;
  weightBytesInMemory: number | null;
}

let trained: string;

beforeAll(async () => {
  trained = await memorisedModelFolder();
}, 600_000);
afterAll(async () => {
  if (trained) await fs.rm(path.dirname(trained), { recursive: true, force: true });
});

describe.each(engines())('quantized deployments (%s)', (engine) => {
  let t: TestApp;
  let admin: { accountId: string; apiKey: string };
  const users: Record<'fp32' | 'int8' | 'int4' | 'other', { accountId: string; apiKey: string }> = {} as never;
  const deployments: Record<string, DeploymentJson> = {};

  async function deploy(key: string, accountId: string, quantization?: string): Promise<DeploymentJson> {
    const r = await restJson<DeploymentJson>(t.url, key, '/api/deployments', {
      method: 'POST',
      body: JSON.stringify({ modelId: 'qa', ...(quantization ? { quantization } : {}) }),
    });
    expect([200, 201]).toContain(r.status);
    await t.app.services.inference.waitReady(accountId, r.body.id, { timeoutMs: 240_000 }).catch(() => undefined);
    return (await restJson<DeploymentJson>(t.url, key, `/api/deployments/${r.body.id}`)).body;
  }

  beforeAll(async () => {
    t = await startTestApp(engine);
    admin = await t.account('admin', 0n, true);
    for (const name of ['fp32', 'int8', 'int4', 'other'] as const) users[name] = await t.account(name);
    await t.app.services.catalog.importModel({ dir: trained, id: 'qa', fineTunable: false });
    deployments.fp32 = await deploy(users.fp32.apiKey, users.fp32.accountId);
    deployments.int8 = await deploy(users.int8.apiKey, users.int8.accountId, 'INT8');
    deployments.int4 = await deploy(users.int4.apiKey, users.int4.accountId, 'INT4');
  }, 600_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('loads INT8 and INT4 deployments that report their quantization and weight bytes', async () => {
    for (const [name, want] of [
      ['fp32', 'NONE'],
      ['int8', 'INT8'],
      ['int4', 'INT4'],
    ] as const) {
      expect(deployments[name]).toMatchObject({ status: 'READY', error: null, quantization: want });
    }
    const modelDir = path.join(t.config.dataDir, 'models', 'qa');
    const meta = async (folder: string) =>
      JSON.parse(await fs.readFile(path.join(modelDir, folder, 'tuneloop-onnx.json'), 'utf8')) as {
        weight_bytes: number;
        quantization: { weightBytes: number };
      };
    const disk = (name: string) => deployments[name]!.weightBytesOnDisk!;
    const memory = (name: string) => deployments[name]!.weightBytesInMemory!;
    expect(disk('fp32')).toBe((await fs.stat(path.join(modelDir, 'onnx', 'model.onnx'))).size);
    expect(disk('int8')).toBe((await fs.stat(path.join(modelDir, 'onnx-int8', 'model.onnx'))).size);
    expect(memory('fp32')).toBe((await meta('onnx')).weight_bytes);
    expect(memory('int8')).toBe((await meta('onnx-int8')).quantization.weightBytes);
    expect(memory('int4')).toBe((await meta('onnx-int4')).quantization.weightBytes);
    // Linear layers: 8 or 4 bits a weight plus a float scale per 32; the embedding stays float32.
    for (const size of [disk, memory]) {
      expect(size('fp32')).toBeGreaterThan(13_000_000); // 3.3M float32 parameters
      expect(size('int8')).toBeLessThan(size('fp32') * 0.4);
      expect(size('int4')).toBeLessThan(size('int8') * 0.8);
    }

    const graphql = await gql(t.url, users.int4.apiKey, DeploymentWeightsDocument, { id: deployments.int4!.id });
    expect(graphql.data!.deployment).toEqual({
      id: deployments.int4!.id,
      status: 'READY',
      error: null,
      quantization: 'INT4',
      weightBytesOnDisk: disk('int4'),
      weightBytesInMemory: memory('int4'),
    });
  });

  it('answers the memorised prompts like the float32 deployment, streamed and not', { timeout: 300_000 }, async () => {
    const answers: Record<string, string[]> = { fp32: [], int8: [], int4: [] };
    for (const [question] of QA) {
      for (const name of ['fp32', 'int8', 'int4'] as const) answers[name]!.push(await chat(t, users[name].apiKey, question));
    }
    // The float32 model learnt the set; the quantized ones must answer like it on ≥ 90 % of it.
    const learnt = QA.filter(([, answer], i) => answers.fp32![i] === answer).length;
    expect(learnt / QA.length, JSON.stringify(answers.fp32)).toBeGreaterThanOrEqual(0.9);
    for (const name of ['int8', 'int4'] as const) {
      const same = answers[name]!.filter((a, i) => a === answers.fp32![i]).length;
      console.info(`${engine} ${name}: ${same}/${QA.length} greedy answers identical to float32`);
      expect(same / QA.length).toBeGreaterThanOrEqual(0.9);
    }
    // Streaming gives each quantized deployment's own non-streamed answer.
    for (const name of ['int8', 'int4'] as const) {
      for (const i of [0, 5]) expect(await streamedChat(t, users[name].apiKey, QA[i]![0])).toBe(answers[name]![i]);
    }
  });

  it('reuses the cached quantized export for a second deployment', async () => {
    const file = path.join(t.config.dataDir, 'models', 'qa', 'onnx-int4', 'model.onnx');
    const before = await fs.stat(file);
    // Another account, then the same account after undeploying: neither quantizes again.
    const second = await deploy(users.other.apiKey, users.other.accountId, 'INT4');
    expect(second).toMatchObject({
      status: 'READY',
      quantization: 'INT4',
      weightBytesOnDisk: deployments.int4!.weightBytesOnDisk,
      weightBytesInMemory: deployments.int4!.weightBytesInMemory,
    });
    await t.app.services.inference.undeploy(users.other.accountId, second.id);
    const third = await deploy(users.other.apiKey, users.other.accountId, 'INT4');
    expect(third.status).toBe('READY');
    const after = await fs.stat(file);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(await chat(t, users.other.apiKey, QA[0]![0])).toBe(await chat(t, users.int4.apiKey, QA[0]![0]));
    await t.app.services.inference.undeploy(users.other.accountId, third.id);
  });

  it('refuses a damaged quantized export with a clear reason, and makes it again on the next deploy', async () => {
    // No deployment may hold the INT8 runtime while its file is damaged.
    await t.app.services.inference.undeploy(users.int8.accountId, deployments.int8!.id);
    const dir = path.join(t.config.dataDir, 'models', 'qa', 'onnx-int8');
    const file = path.join(dir, 'model.onnx');
    const bytes = await fs.readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff; // same size, one weight byte flipped
    await fs.writeFile(file, bytes);

    const failed = await deploy(users.int8.apiKey, users.int8.accountId, 'INT8');
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatch(/cached INT8 export .*onnx-int8 is damaged \(model\.onnx does not match its recorded sha256\)/);
    await expect(fs.stat(dir)).rejects.toThrow();
    const refused = await post(t, users.int8.apiKey, '/v1/chat/completions', { model: 'qa', messages: [{ role: 'user', content: 'Hi' }] });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'model_not_deployed',
      message: expect.stringContaining('damaged'),
    });

    deployments.int8 = await deploy(users.int8.apiKey, users.int8.accountId, 'INT8');
    expect(deployments.int8).toMatchObject({ status: 'READY', quantization: 'INT8' });
    expect(await chat(t, users.int8.apiKey, QA[1]![0])).toBe(await chat(t, users.fp32.apiKey, QA[1]![0]));
  });

  it('refuses a quantization it does not serve, and a second quantization of a deployed model', async () => {
    const rest = await post(t, users.int4.apiKey, '/api/deployments', { modelId: 'qa', quantization: 'INT3' });
    expect(rest.status).toBe(400);
    expect(rest.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await rest.json()).toMatchObject({
      code: 'UNSUPPORTED_QUANTIZATION',
      field: 'quantization',
      detail: expect.stringMatching(/NONE, INT8, INT4/),
    });

    const graphql = await gql(t.url, users.int4.apiKey, DeployModelQuantizedDocument, { modelId: 'qa', quantization: 'INT3' as never });
    expect(graphql.data).toBeUndefined();
    expect(graphql.errors![0]!.message).toMatch(/Value "INT3" does not exist in "Quantization" enum/);

    // One live deployment per model and account: an explicit other quantization is a conflict…
    const conflict = await post(t, users.int4.apiKey, '/api/deployments', { modelId: 'qa', quantization: 'INT8' });
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ code: 'DEPLOYMENT_EXISTS', deploymentId: deployments.int4!.id, quantization: 'INT4' });
    const viaGraphql = await gql(t.url, users.int4.apiKey, DeployModelQuantizedDocument, { modelId: 'qa', quantization: 'NONE' });
    expect(viaGraphql.data!.deployModel).toMatchObject({ deployment: null, errors: [{ code: 'DEPLOYMENT_EXISTS' }] });
    // …while asking for none (or for the same) answers the live deployment, as before.
    for (const body of [{ modelId: 'qa' }, { modelId: 'qa', quantization: 'INT4' }]) {
      const same = await post(t, users.int4.apiKey, '/api/deployments', body);
      expect(same.status).toBe(200);
      expect(await same.json()).toMatchObject({ id: deployments.int4!.id, quantization: 'INT4' });
    }
    const rows = await t.app.services.db.selectFrom('deployments').select('id').where('account_id', '=', users.int4.accountId).execute();
    expect(rows).toHaveLength(1);
  });

  it("deploys with the model's default quantization, which only an admin sets", async () => {
    const patch = (key: string, body: unknown) =>
      restJson<Record<string, unknown>>(t.url, key, '/api/models/qa', { method: 'PATCH', body: JSON.stringify(body) });
    expect((await patch(users.other.apiKey, { defaultQuantization: 'INT4' })).status).toBe(403);
    expect(await patch(admin.apiKey, { defaultQuantization: 'FP8' })).toMatchObject({
      status: 400,
      body: { code: 'UNSUPPORTED_QUANTIZATION', field: 'defaultQuantization' },
    });
    expect((await restJson<{ defaultQuantization: string }>(t.url, users.other.apiKey, '/api/models/qa')).body.defaultQuantization).toBe(
      'NONE',
    );

    const set = await gql(t.url, admin.apiKey, SetModelDefaultQuantizationDocument, { input: { modelId: 'qa', quantization: 'INT8' } });
    expect(set.data!.setModelDefaultQuantization).toEqual({ model: { id: 'qa', defaultQuantization: 'INT8' }, errors: [] });
    const notAdmin = await gql(t.url, users.other.apiKey, SetModelDefaultQuantizationDocument, {
      input: { modelId: 'qa', quantization: 'NONE' },
    });
    expect(notAdmin.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const byDefault = await deploy(users.other.apiKey, users.other.accountId);
    expect(byDefault).toMatchObject({ status: 'READY', quantization: 'INT8' });
    await t.app.services.inference.undeploy(users.other.accountId, byDefault.id);
    const asked = await gql(t.url, users.other.apiKey, DeployModelQuantizedDocument, { modelId: 'qa', quantization: 'NONE' });
    expect(asked.data!.deployModel.deployment).toMatchObject({ quantization: 'NONE', status: 'LOADING' });
    expect((await patch(admin.apiKey, { defaultQuantization: 'NONE' })).body).toMatchObject({ id: 'qa', defaultQuantization: 'NONE' });
  });
});
