import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel, insertJob } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset } from '../../src/dev/rest-client.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { loadTrainingTokenizer } from '../../src/tokenizer/model-tokenizer.js';
import { checkpointModelId } from '../../src/catalog/checkpoint-models.js';
import { startingWeights } from '../../src/training/starting-weights.js';

/**
 * Starting DPO jobs and continued training, without running them: which datasets a method
 * takes, DPO-only settings, the model a job continues from (yours only, with its lineage),
 * and what a pair is billed. Both transports, both engines.
 */

const PAIRS = Array.from({ length: 12 }, (_, i) => ({
  input: { messages: [{ role: 'user' as const, content: `Which is better, ${i} or ${i + 1}?` }] },
  preferred_output: [{ role: 'assistant' as const, content: `${i + 1}, by one.` }],
  non_preferred_output: [{ role: 'assistant' as const, content: `${i}.` }],
}));
const preferenceJsonl = `${PAIRS.map((p) => JSON.stringify(p)).join('\n')}\n`;

describe.each(engines())('starting DPO and continued training (%s)', (engine) => {
  let t: TestApp;
  let alice: { apiKey: string; accountId: string };
  let mallory: { apiKey: string; accountId: string };
  let chat: string;
  let pairs: string;
  /** Alice's fine-tuned model and a checkpoint of its job, registered without a trainer run. */
  let ftModel: string;
  let checkpoint: string;
  let ftJob: string;

  beforeAll(async () => {
    t = await startTestApp(engine);
    alice = await t.account('alice', 100_000_000n);
    mallory = await t.account('mallory', 100_000_000n);
    await addTinyModel(t);
    chat = (await uploadDataset(t.url, alice.apiKey, qaJsonl())).id;
    pairs = (await uploadDataset(t.url, alice.apiKey, preferenceJsonl)).id;
    ftJob = await insertJob(t, alice.accountId, { baseModel: 'tiny', status: 'SUCCEEDED', events: [] });
    await t.app.services.db.updateTable('training_jobs').set({ suffix: 'sft' }).where('id', '=', ftJob).execute();
    const folder = await tinyModelFolder();
    const model = await t.app.services.db.transaction().execute((trx) =>
      t.app.services.catalog.registerFineTunedModel(trx, {
        jobId: ftJob,
        accountId: alice.accountId,
        baseModelId: 'tiny',
        suffix: 'sft',
        modelPath: folder,
        adapterPath: null,
        onnxPath: null,
      }),
    );
    ftModel = model.id;
    t.app.services.catalog.invalidateListings();
    await t.app.services.db
      .insertInto('training_checkpoints')
      .values({ job_id: ftJob, step: 20, path: '/data/jobs/x/checkpoints/step-00000020' } as never)
      .execute();
    checkpoint = checkpointModelId({ id: ftJob, baseModelId: 'tiny', suffix: 'sft' }, 20);
  });
  afterAll(async () => t?.stop());

  const start = (apiKey: string, body: Record<string, unknown>, route = '/api/fine-tune/training/start') =>
    restJson<Record<string, any>>(t.url, apiKey, route, { method: 'POST', body: JSON.stringify(body) });

  async function graphql(apiKey: string, query: string, variables: Record<string, unknown>) {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  }
  const START = `mutation($input: StartFineTuneInput!) {
    startFineTune(input: $input) { job { id method trainable parentModel baseModel { id } } errors { code message } }
  }`;

  it('reports the dataset format: preference, with both answers counted', async () => {
    const ds = await restJson<Record<string, any>>(t.url, alice.apiKey, `/api/datasets/${pairs}`);
    expect(ds.body).toMatchObject({ status: 'READY', format: 'preference', examples: 12 });
    const graph = await graphql(alice.apiKey, 'query($id: ID!) { dataset(id: $id) { format } }', { id: pairs });
    expect(graph.data.dataset.format).toBe('preference');
  });

  it('refuses a preference dataset for a supervised job and a chat dataset for DPO: DATASET_FORMAT_MISMATCH, no job', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ trainingDataset: pairs, method: 'LORA' }, 'trainingDataset'],
      [{ trainingDataset: pairs }, 'trainingDataset'],
      [{ trainingDataset: chat, method: 'DPO' }, 'trainingDataset'],
      [{ trainingDataset: pairs, validationDataset: chat, method: 'DPO' }, 'validationDataset'],
    ];
    for (const [body, field] of cases) {
      for (const route of ['/api/fine-tune/training/start', '/api/fine-tune/estimate']) {
        const response = await start(alice.apiKey, { baseModel: 'tiny', ...body }, route);
        expect(response.status, `${route} ${JSON.stringify(body)}`).toBe(400);
        expect(response.body).toMatchObject({ code: 'DATASET_FORMAT_MISMATCH', field });
      }
      const graph = await graphql(alice.apiKey, START, { input: { baseModel: 'tiny', ...body } });
      expect(graph.data.startFineTune.errors).toEqual([{ code: 'DATASET_FORMAT_MISMATCH', message: expect.stringMatching(/preference/) }]);
    }
    expect((await t.app.services.training.list(alice.accountId)).jobs.map((j) => j.id)).toEqual([ftJob]);
  });

  it('takes beta and trainable for DPO only; LoRA settings only when DPO trains LoRA', async () => {
    const refused: Array<[Record<string, unknown>, string]> = [
      [{ trainingDataset: chat, hyperparameters: { beta: 0.2 } }, 'hyperparameters.beta'],
      [{ trainingDataset: pairs, method: 'DPO', hyperparameters: { beta: 0 } }, 'hyperparameters.beta'],
      [{ trainingDataset: pairs, method: 'DPO', hyperparameters: { beta: 2.5 } }, 'hyperparameters.beta'],
      [{ trainingDataset: pairs, method: 'DPO', trainable: 'FULL', hyperparameters: { loraRank: 4 } }, 'hyperparameters.loraRank'],
      [{ trainingDataset: chat, method: 'FULL', trainable: 'LORA' }, 'trainable'],
    ];
    for (const [body, field] of refused) {
      const response = await start(alice.apiKey, { baseModel: 'tiny', ...body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body).toMatchObject({ code: 'INVALID_HYPERPARAMETERS', field });
    }
    const graph = await graphql(alice.apiKey, START, {
      input: { baseModel: 'tiny', trainingDataset: chat, method: 'LORA', hyperparameters: { beta: 0.5 } },
    });
    expect(graph.data.startFineTune.errors).toEqual([{ code: 'INVALID_HYPERPARAMETERS', message: expect.stringContaining('beta') }]);
  });

  it('estimates a DPO job: both sequences of every pair billed (the prompt twice), pairs counted as examples', async () => {
    const tok = await loadTrainingTokenizer(await tinyModelFolder());
    // Rendered here as the chats the format stands for: prompt + preferred, prompt + non-preferred.
    const perEpoch = PAIRS.reduce(
      (n, p) =>
        n +
        tok.renderExample({ messages: [...p.input.messages, ...p.preferred_output] }).tokens.length +
        tok.renderExample({ messages: [...p.input.messages, ...p.non_preferred_output] }).tokens.length,
      0,
    );
    const estimate = await start(
      alice.apiKey,
      { baseModel: 'tiny', trainingDataset: pairs, method: 'DPO', hyperparameters: { epochs: 3, maxSeqLength: 256 } },
      '/api/fine-tune/estimate',
    );
    expect(estimate.status).toBe(200);
    expect(estimate.body).toMatchObject({ examples: 12, tokensPerEpoch: perEpoch, billableTokens: perEpoch * 3, epochs: 3 });
    // 2 micro-USD per token (tiny's price: $2 per 1M), rounded up.
    expect(estimate.body.cost).toBe(((perEpoch * 3 * 2) / 1_000_000).toFixed(6));
    expect(estimate.body.hyperparameters).toMatchObject({ beta: 0.1, loraRank: 8, learningRate: 2e-4 / 4, batchSize: 1 });
    const full = await start(
      alice.apiKey,
      { baseModel: 'tiny', trainingDataset: pairs, method: 'DPO', trainable: 'FULL' },
      '/api/fine-tune/estimate',
    );
    expect(full.body.hyperparameters).toMatchObject({ beta: 0.1, loraRank: null });
  });

  it('starts DPO (REST and GraphQL) and continued training from your fine-tuned model or checkpoint, with lineage', async () => {
    const rest = await start(alice.apiKey, { baseModel: ftModel, trainingDataset: pairs, method: 'DPO', trainable: 'FULL' });
    expect(rest.status, JSON.stringify(rest.body)).toBe(201);
    expect(rest.body).toMatchObject({ method: 'DPO', trainable: 'FULL', baseModel: 'tiny', parentModel: ftModel, status: 'QUEUED' });
    expect(rest.body.hyperparameters).toMatchObject({ beta: 0.1, loraRank: null });
    const graph = await graphql(alice.apiKey, START, { input: { baseModel: checkpoint, trainingDataset: pairs, method: 'DPO' } });
    expect(graph.data.startFineTune).toMatchObject({
      errors: [],
      job: { method: 'DPO', trainable: 'LORA', parentModel: checkpoint, baseModel: { id: 'tiny' } },
    });
    const supervised = await start(alice.apiKey, { baseModel: checkpoint, trainingDataset: chat, method: 'FULL' });
    expect(supervised.body).toMatchObject({ method: 'FULL', trainable: 'FULL', parentModel: checkpoint });

    // Where the trainer starts: the fine-tuned model's folder; a LoRA job's checkpoint is merged on top of that job's start.
    const folder = (await t.app.services.catalog.getModel(alice.accountId, ftModel)).storage_path;
    const job = await t.app.services.training.get(alice.accountId, rest.body.id);
    expect(await startingWeights(t.app.services, job)).toEqual({ path: folder, weights: null, adapters: [] });
    const fromCheckpoint = await t.app.services.training.get(alice.accountId, graph.data.startFineTune.job.id);
    const tinyPath = (await t.app.services.catalog.getModel(alice.accountId, 'tiny')).storage_path;
    expect(await startingWeights(t.app.services, fromCheckpoint)).toEqual({
      path: tinyPath,
      weights: null,
      adapters: ['/data/jobs/x/checkpoints/step-00000020'],
    });
  });

  it("refuses another account's fine-tuned model and checkpoint as NOT_FOUND, like a missing one", async () => {
    const theirs = (await uploadDataset(t.url, mallory.apiKey, preferenceJsonl)).id;
    for (const baseModel of [ftModel, checkpoint, `${ftModel}:ckpt-step-99`, 'ft:tiny:sft:zzzzzzzz']) {
      const response = await start(mallory.apiKey, { baseModel, trainingDataset: theirs, method: 'DPO' });
      expect(response.status, baseModel).toBe(404);
      expect(response.body).toMatchObject({ code: 'NOT_FOUND', field: 'baseModel' });
      expect(response.body.detail).toBe(`model ${JSON.stringify(baseModel)} was not found`);
    }
    expect((await t.app.services.training.list(mallory.accountId)).jobs).toEqual([]);
  });
});
