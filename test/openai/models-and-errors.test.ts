/**
 * OpenAI's models routes and error shape through the official `openai` npm package
 * against a running server (docs/openai-compatibility.md): the list holds the models you
 * can call (your fine-tuned models and your deployments), retrieve knows base models,
 * fine-tuned models and checkpoints, delete removes a fine-tuned model (refused while it
 * is deployed) or a finished job's checkpoint; every /v1 error — unknown routes, a wrong
 * key, bad JSON — is OpenAI's `{error: {message, type, param, code}}`, so the SDK raises
 * its typed errors; another account's model is a NotFoundError like a missing one.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointModelId } from '../../src/catalog/checkpoint-models.js';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { deployReady, insertFineTunedModel, onnxModelFolder, post } from '../helpers/inference.js';
import { insertJob } from '../helpers/training.js';

describe.each(engines())('OpenAI models routes and errors (%s)', (engine) => {
  let t: TestApp;
  let alice: { accountId: string; apiKey: string };
  let bob: { accountId: string; apiKey: string };
  let client: OpenAI;
  let ftModel: string;

  /** A finished (or running) job of alice's with a checkpoint folder at `step`. */
  const checkpointOf = async (status: string, step: number) => {
    const jobId = await insertJob(t, alice.accountId, { baseModel: 'tiny-base', status, events: [] });
    const folder = path.join(t.config.dataDir, 'jobs', jobId, 'checkpoints', `step-${step}`);
    await fs.mkdir(folder, { recursive: true });
    await fs.writeFile(path.join(folder, 'adapter.safetensors'), 'x');
    await t.app.services.db.insertInto('training_checkpoints').values({ job_id: jobId, step, path: folder }).execute();
    return { id: checkpointModelId({ id: jobId, baseModelId: 'tiny-base', suffix: null }, step), folder };
  };

  beforeAll(async () => {
    t = await startTestApp(engine);
    alice = await t.account('alice', 100_000_000n);
    bob = await t.account('bob', 100_000_000n);
    const dir = await onnxModelFolder();
    await t.app.services.catalog.importModel({ dir, id: 'tiny-base', fineTunable: true, pricePerMTokMicros: 1n });
    ftModel = await insertFineTunedModel(t, alice.accountId, dir);
    client = new OpenAI({ apiKey: alice.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('lists the models you can call: your fine-tuned models, and base models once deployed', async () => {
    const ids = async (c = client) => {
      const out: string[] = [];
      for await (const m of c.models.list()) out.push(m.id);
      return out;
    };
    expect(await ids()).toEqual([ftModel]);
    const bobClient = new OpenAI({ apiKey: bob.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
    expect(await ids(bobClient)).toEqual([]);
    await deployReady(t, bob.apiKey, bob.accountId, 'tiny-base');
    expect(await ids(bobClient)).toEqual(['tiny-base']);
    expect(await ids()).toEqual([ftModel]);
  });

  it('retrieves base models, your fine-tuned models and checkpoints; others are NotFoundError', async () => {
    const model = await client.models.retrieve(ftModel);
    expect(model).toMatchObject({ id: ftModel, object: 'model', owned_by: alice.accountId });
    expect(typeof model.created).toBe('number');
    expect(await client.models.retrieve('tiny-base')).toMatchObject({ id: 'tiny-base', object: 'model', owned_by: 'tuneloop' });
    const checkpoint = await checkpointOf('SUCCEEDED', 8);
    expect(await client.models.retrieve(checkpoint.id)).toMatchObject({ id: checkpoint.id, object: 'model' });

    const bobClient = new OpenAI({ apiKey: bob.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
    for (const id of [ftModel, checkpoint.id, 'no-such-model', `${ftModel}:ckpt-step-999`]) {
      const c = id === 'no-such-model' ? client : bobClient;
      const error = await c.models.retrieve(id).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    }
  });

  it('deletes a fine-tuned model: 409 while deployed, then gone everywhere (list, retrieve, chat)', async () => {
    const dir = await onnxModelFolder();
    const doomed = await insertFineTunedModel(t, alice.accountId, dir, 'doomed');
    const deployment = await deployReady(t, alice.apiKey, alice.accountId, doomed);
    const inUse = await client.models.delete(doomed).catch((e: unknown) => e);
    expect(inUse).toBeInstanceOf(OpenAI.ConflictError);
    expect((inUse as InstanceType<typeof OpenAI.ConflictError>).code).toBe('model_in_use');
    // Still there after the refusal.
    expect((await client.models.retrieve(doomed)).id).toBe(doomed);

    const bobClient = new OpenAI({ apiKey: bob.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
    expect(await bobClient.models.delete(doomed).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    const base = await client.models.delete('tiny-base').catch((e: unknown) => e);
    expect(base).toBeInstanceOf(OpenAI.PermissionDeniedError);

    const undeployed = await fetch(`${t.url}/api/deployments/${deployment}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${alice.apiKey}` },
    });
    expect(undeployed.status).toBe(200);
    expect(await client.models.delete(doomed)).toEqual({ id: doomed, object: 'model', deleted: true });
    expect(await client.models.retrieve(doomed).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await client.models.delete(doomed).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    const chat = await client.chat.completions
      .create({ model: doomed, messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 2 })
      .catch((e: unknown) => e);
    expect(chat).toBeInstanceOf(OpenAI.NotFoundError);
    const listed: string[] = [];
    for await (const m of client.models.list()) listed.push(m.id);
    expect(listed).not.toContain(doomed);
    // The history that names it stays: its row is kept, marked deleted.
    const row = await t.app.services.db.selectFrom('models').select('deleted_at').where('id', '=', doomed).executeTakeFirstOrThrow();
    expect(row.deleted_at).toBeInstanceOf(Date);
  });

  it("deletes a finished job's checkpoint with its files; a running job keeps its checkpoints (409)", async () => {
    const running = await checkpointOf('RUNNING', 4);
    const refused = await client.models.delete(running.id).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.ConflictError);
    expect((refused as InstanceType<typeof OpenAI.ConflictError>).code).toBe('checkpoint_in_use');
    await fs.access(running.folder);

    const done = await checkpointOf('SUCCEEDED', 12);
    const bobClient = new OpenAI({ apiKey: bob.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
    expect(await bobClient.models.delete(done.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await client.models.delete(done.id)).toEqual({ id: done.id, object: 'model', deleted: true });
    await expect(fs.access(done.folder)).rejects.toThrow();
    expect(await client.models.retrieve(done.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('answers every /v1 error in OpenAI shape: unknown routes, a wrong key, bad JSON, a bad body', async () => {
    const unknown = await client.get('/no/such/route').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((unknown as InstanceType<typeof OpenAI.NotFoundError>).error).toMatchObject({
      type: 'invalid_request_error',
      code: 'unknown_url',
    });
    const wrongKey = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${t.url}/v1`, maxRetries: 0 });
    const denied = await wrongKey.models.list().catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((denied as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');

    for (const [body, status, code] of [
      ['{"model": ', 400, 'invalid_json'],
      [{ model: 'tiny-base', messages: 'not a list' }, 400, 'invalid_value'],
    ] as const) {
      const response = await post(t, alice.apiKey, '/v1/chat/completions', body);
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const json = (await response.json()) as { error: { message: string; type: string; param: string | null; code: string } };
      expect(json.error).toMatchObject({ type: 'invalid_request_error', code });
      expect(typeof json.error.message).toBe('string');
    }
    // REST keeps problem+json.
    const rest = await fetch(`${t.url}/api/no/such/route`, { headers: { authorization: `Bearer ${alice.apiKey}` } });
    expect(rest.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
