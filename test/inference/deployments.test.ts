/**
 * Deployments: the REST and GraphQL surfaces, who may deploy what, exporting a model
 * that has no ONNX yet, a deployment that fails with its reason, and deployments coming
 * back after a restart.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { createTestDatabase, engines } from '../helpers/db.js';
import { gql } from '../helpers/clients.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { DeployModelDocument, DeploymentsDocument, UndeployModelDocument } from '../generated/graphql.js';
import { deployReady, insertFineTunedModel, onnxModelFolder, post } from '../helpers/inference.js';

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe.each(engines())('deployments (%s)', (engine) => {
  let t: TestApp;
  let alice: { accountId: string; apiKey: string };
  let bob: { accountId: string; apiKey: string };
  let aliceModel: string;
  // Kept by this file (not the helper), so the last test can restart the app on them.
  let dataDir: string;
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  const appOptions = () => ({ dataDir, ...(database ? { databaseUrl: database.url } : {}) });

  beforeAll(async () => {
    dataDir = await makeTempDir();
    database = engine === 'postgres' ? await createTestDatabase('deployments') : undefined;
    t = await startTestApp(engine, appOptions());
    alice = await t.account('alice');
    bob = await t.account('bob');
    await t.app.services.catalog.importModel({ dir: await onnxModelFolder(), id: 'tiny-base', fineTunable: true });
    aliceModel = await insertFineTunedModel(t, alice.accountId, await onnxModelFolder(), 'alice');
  });
  afterAll(async () => {
    await t?.stop();
    await database?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('deploys over REST: LOADING, then READY; once per model; undeploy stops serving it', async () => {
    const created = await post(t, alice.apiKey, '/api/deployments', { modelId: 'tiny-base' });
    expect(created.status).toBe(201);
    const dep = (await created.json()) as { id: string; status: string; modelId: string };
    expect(dep).toMatchObject({ status: 'LOADING', modelId: 'tiny-base' });
    expect(dep.id).toMatch(/^dep_/);
    await t.app.services.inference.waitReady(alice.accountId, dep.id);
    const got = await (await fetch(`${t.url}/api/deployments/${dep.id}`, { headers: auth(alice.apiKey) })).json();
    expect(got).toMatchObject({ id: dep.id, status: 'READY', executionProvider: 'cpu', error: null });

    const again = await post(t, alice.apiKey, '/api/deployments', { modelId: 'tiny-base' });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(dep.id);
    const models = (await (await fetch(`${t.url}/v1/models`, { headers: auth(alice.apiKey) })).json()) as { data: Array<{ id: string }> };
    // Every model alice can call: her deployment, and her fine-tuned model (served on demand).
    expect(models.data.map((m) => m.id).sort()).toEqual([aliceModel, 'tiny-base'].sort());

    // Another account's deployment is invisible.
    expect((await fetch(`${t.url}/api/deployments/${dep.id}`, { headers: auth(bob.apiKey) })).status).toBe(404);

    const removed = await fetch(`${t.url}/api/deployments/${dep.id}`, { method: 'DELETE', headers: auth(alice.apiKey) });
    expect(((await removed.json()) as { status: string }).status).toBe('UNDEPLOYED');
    const refused = await post(t, alice.apiKey, '/v1/completions', { model: 'tiny-base', prompt: 'Hi' });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('model_not_deployed');
    const list = (await (await fetch(`${t.url}/api/deployments?includeUndeployed=true`, { headers: auth(alice.apiKey) })).json()) as {
      data: Array<{ id: string; status: string }>;
    };
    expect(list.data).toEqual([expect.objectContaining({ id: dep.id, status: 'UNDEPLOYED' })]);
  });

  it('deploys over GraphQL (deployModel, deployments, undeployModel)', async () => {
    const deployed = await gql(t.url, alice.apiKey, DeployModelDocument, { modelId: 'tiny-base' });
    expect(deployed.data!.deployModel.errors).toEqual([]);
    const { id } = deployed.data!.deployModel.deployment!;
    await t.app.services.inference.waitReady(alice.accountId, id);
    const listed = await gql(t.url, alice.apiKey, DeploymentsDocument, {});
    expect(listed.data!.deployments).toEqual([{ id, status: 'READY', error: null, executionProvider: 'cpu', model: { id: 'tiny-base' } }]);
    const missing = await gql(t.url, alice.apiKey, DeployModelDocument, { modelId: 'nope' });
    expect(missing.data!.deployModel.errors[0]!.code).toBe('NOT_FOUND');
    const undeployed = await gql(t.url, alice.apiKey, UndeployModelDocument, { deploymentId: id });
    expect(undeployed.data!.undeployModel.deployment).toEqual({ id, status: 'UNDEPLOYED' });
    const foreign = await gql(t.url, bob.apiKey, UndeployModelDocument, { deploymentId: id });
    expect(foreign.data!.undeployModel.errors[0]!.code).toBe('NOT_FOUND');
  });

  it('lets only the owner deploy a fine-tuned model; anyone may deploy a base model', async () => {
    const foreign = await post(t, bob.apiKey, '/api/deployments', { modelId: aliceModel });
    const missing = await post(t, bob.apiKey, '/api/deployments', { modelId: 'ft:tiny-base:x:00000000' });
    expect([foreign.status, missing.status]).toEqual([404, 404]);
    expect(((await foreign.json()) as { code: string }).code).toBe('NOT_FOUND');
    const id = await deployReady(t, alice.apiKey, alice.accountId, aliceModel);
    const answer = await post(t, alice.apiKey, '/v1/completions', { model: aliceModel, prompt: 'Hi', max_tokens: 3 });
    expect(answer.status).toBe(200);
    await t.app.services.inference.undeploy(alice.accountId, id);
    const baseByBob = await deployReady(t, bob.apiKey, bob.accountId, 'tiny-base');
    await t.app.services.inference.undeploy(bob.accountId, baseByBob);
  });

  // The export runs the real trainer (torch import + ONNX export): minutes on a busy 2-core machine.
  it('exports a model that has no ONNX on its first deploy, and keeps the export', { timeout: 300_000 }, async () => {
    const model = await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id: 'tiny-raw', fineTunable: false });
    expect(model.onnx_path).toBeNull();
    const id = await deployReady(t, alice.apiKey, alice.accountId, 'tiny-raw', 240_000);
    const row = await t.app.services.db.selectFrom('models').select('onnx_path').where('id', '=', 'tiny-raw').executeTakeFirstOrThrow();
    expect(row.onnx_path).toBe(path.join(model.storage_path, 'onnx', 'model.onnx'));
    await expect(fs.stat(row.onnx_path!)).resolves.toBeTruthy();
    const answer = await post(t, alice.apiKey, '/v1/completions', { model: 'tiny-raw', prompt: 'Hi', max_tokens: 3 });
    expect(answer.status).toBe(200);
    await t.app.services.inference.undeploy(alice.accountId, id);
  });

  it('marks a deployment FAILED with the reason when the model cannot be loaded', async () => {
    const dir = path.join(await makeTempDir('tuneloop-broken-'), 'model');
    await fs.cp(await onnxModelFolder(), dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'onnx', 'model.onnx'), 'not an onnx model');
    await t.app.services.catalog.importModel({ dir, id: 'tiny-broken', fineTunable: false });
    await fs.rm(path.dirname(dir), { recursive: true, force: true });
    const { deployment } = await t.app.services.inference.deploy(alice.accountId, 'tiny-broken');
    await expect(t.app.services.inference.waitReady(alice.accountId, deployment.id)).rejects.toMatchObject({ code: 'DEPLOYMENT_FAILED' });
    const got = (await (await fetch(`${t.url}/api/deployments/${deployment.id}`, { headers: auth(alice.apiKey) })).json()) as {
      status: string;
      error: string;
    };
    expect(got.status).toBe('FAILED');
    expect(got.error.length).toBeGreaterThan(10);
    const refused = await post(t, alice.apiKey, '/v1/completions', { model: 'tiny-broken', prompt: 'Hi' });
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('model_not_deployed');
  });

  it('restores deployments after a restart: the api loads them at start and they answer as before', async () => {
    const id = await deployReady(t, alice.apiKey, alice.accountId, 'tiny-base');
    const body = { model: 'tiny-base', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 };
    const before = (await (await post(t, alice.apiKey, '/v1/completions', body)).json()) as { choices: unknown };
    await t.stop();
    t = await startTestApp(engine, appOptions());
    const restored = await t.app.services.inference.waitReady(alice.accountId, id, { timeoutMs: 60_000 });
    expect(restored.status).toBe('READY');
    const after = (await (await post(t, alice.apiKey, '/v1/completions', body)).json()) as { choices: unknown };
    expect(after.choices).toEqual(before.choices);
    // Undeployed and failed deployments stay as they were.
    const all = await t.app.services.inference.listDeployments(alice.accountId, { includeUndeployed: true });
    expect(all.filter((d) => d.status === 'READY').map((d) => d.id)).toEqual([id]);
    expect(all.some((d) => d.status === 'FAILED')).toBe(true);
  });
});
