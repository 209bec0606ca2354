/**
 * Calling fine-tuned models and checkpoints without a deployment, through the official
 * `openai` npm package against a running server with the real trainer and the real ONNX
 * runtime: the first request loads the model (concurrent first requests share one load),
 * least recently used models are unloaded to stay within the memory budget, idle ones
 * after the idle time, explicit deployments never; and the inference options the SDK
 * sends (logprobs, n, seed, stop, max_completion_tokens, response_format), with
 * unsupported ones refused naming the parameter.
 *
 * The fine-tune is a LoRA one, served on demand as its adapter (its checkpoints merged).
 * Two phases on one data folder and database: the server first runs with a long idle
 * time and a budget of one and a half tiny models (so the LRU order is what unloads),
 * then restarts with a one-second idle time (so idleness is what unloads).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { createTestDatabase, engines } from '../helpers/db.js';
import { onnxModelFolder, post } from '../helpers/inference.js';
import { FAST_HYPERPARAMETERS } from '../helpers/training.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';

const PRICE_PER_MTOK = 1_000_000_000n; // 1000 micro-USD a token
const NO_EOS = { '1023': -100, '1021': -100 };
const MESSAGES = [{ role: 'user' as const, content: 'What is the capital of France?' }];

type Job = Record<string, any>;

describe.each(engines())('on-demand models through the openai SDK (%s)', (engine) => {
  let dataDir: string;
  let database: { url: string; drop: () => Promise<void> } | undefined;
  let t: TestApp | undefined;
  let alice: { accountId: string; apiKey: string };
  let bob: { accountId: string; apiKey: string };
  let client: OpenAI;
  let model: string;
  let checkpoints: string[];
  let weightBytes: number;

  const start = async (config: { onDemandIdleMs: number; onDemandMemoryBytes: number }, worker = false) => {
    t = await startTestApp(engine, { dataDir, databaseUrl: database?.url, worker, config });
    return t;
  };
  const app = () => t!;
  const greedy = async (id: string, c = client) =>
    (await c.chat.completions.create({ model: id, messages: MESSAGES, temperature: 0, max_completion_tokens: 16 })).choices[0]!.message
      .content;
  const onDemand = () =>
    app()
      .app.services.inference.onDemandModels()
      .map((m) => m.model);

  beforeAll(async () => {
    dataDir = await makeTempDir();
    database = engine === 'postgres' ? await createTestDatabase('ondemand') : undefined;
    const meta = JSON.parse(await fs.readFile(path.join(await onnxModelFolder(), 'onnx', 'tuneloop-onnx.json'), 'utf8')) as {
      weight_bytes: number;
    };
    weightBytes = meta.weight_bytes;
    const t = await start({ onDemandIdleMs: 10 * 60_000, onDemandMemoryBytes: Math.floor(1.5 * weightBytes) }, true);
    alice = await t.account('alice', 1_000_000_000n);
    bob = await t.account('bob', 1_000_000_000n);
    await t.app.services.catalog.importModel({
      dir: await tinyModelFolder(),
      id: 'tiny',
      fineTunable: true,
      pricePerMTokMicros: 2_000_000n,
      inferencePricePerMTokMicros: PRICE_PER_MTOK,
    });
    const datasetId = (await uploadDataset(t.url, alice.apiKey, qaJsonl())).id;
    const started = await restJson<Job>(t.url, alice.apiKey, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ baseModel: 'tiny', trainingDataset: datasetId, method: 'LORA', hyperparameters: FAST_HYPERPARAMETERS }),
    });
    expect(started.status).toBe(201);
    const job = await waitForJob(t.url, alice.apiKey, started.body.id as string, ['SUCCEEDED', 'FAILED'], 240_000);
    expect(job.status).toBe('SUCCEEDED');
    model = job.fineTunedModel as string;
    const listed = await restJson<{ data: Job[] }>(t.url, alice.apiKey, `/api/training/${job.id}/checkpoints`);
    checkpoints = listed.body.data.map((c) => `${model}:${c.id}`);
    expect(checkpoints.length).toBe(2);
    client = new OpenAI({ apiKey: alice.apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
  }, 300_000);

  afterAll(async () => {
    await t?.stop();
    await database?.drop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('loads a fine-tuned model on the first request, once for concurrent first requests', async () => {
    expect(app().app.services.inference.onDemandModels()).toEqual([]);
    const answers = await Promise.all(Array.from({ length: 4 }, () => greedy(model)));
    expect(new Set(answers).size).toBe(1);
    expect(answers[0]!.length).toBeGreaterThan(0);
    expect(app().app.services.inference.onDemandLoadCount(model)).toBe(1);
    expect(onDemand()).toEqual([model]);
    // A LoRA fine-tune: its adapter over the base's shared LoRA-input runtime, no merged export.
    expect(app().app.services.inference.onDemandModels()[0]!.servedAs).toBe('ADAPTER');
    expect(app().app.services.inference.loadedRuntimes()).toEqual([expect.stringMatching(/^tiny@lora:/)]);
    // Metered like a deployed model, under an OpenAI-shaped id that the ledger references.
    const completion = await client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 4 });
    expect(completion.id).toMatch(/^chatcmpl-[0-9a-z]{26}$/);
    const db = app().app.services.db;
    const usage = await db.selectFrom('inference_usage').selectAll().where('id', '=', completion.id).executeTakeFirstOrThrow();
    expect(usage).toMatchObject({ account_id: alice.accountId, model_id: model, deployment_id: null, endpoint: 'chat.completions' });
    const cost = BigInt(completion.usage!.total_tokens) * 1000n;
    expect(usage.cost_micros).toBe(cost);
    const charged = await db
      .selectFrom('ledger_entries')
      .select(['type', 'amount_micros'])
      .where('reference_id', '=', completion.id)
      .execute();
    expect(charged).toContainEqual({ type: 'charge', amount_micros: -cost });
    const text = await client.completions.create({ model, prompt: 'Paris is', max_tokens: 3 });
    expect(text.id).toMatch(/^cmpl-[0-9a-z]{26}$/);
  });

  it('calls a checkpoint without a deployment: the final checkpoint answers like the fine-tuned model', async () => {
    const [earlier, final] = checkpoints as [string, string];
    expect(await greedy(final)).toBe(await greedy(model));
    // The model's own log-probabilities: the final checkpoint's merged weights are the
    // fine-tuned model's; the earlier checkpoint's are not.
    const firstToken = async (id: string) => {
      const r = await client.chat.completions.create({
        model: id,
        messages: MESSAGES,
        max_completion_tokens: 1,
        logprobs: true,
        top_logprobs: 5,
        logit_bias: NO_EOS, // an end-of-text token has no entry; log-probabilities are taken before the bias
      });
      return r.choices[0]!.logprobs!.content![0]!.top_logprobs;
    };
    const [fromModel, fromFinal, fromEarlier] = [await firstToken(model), await firstToken(final), await firstToken(earlier)];
    expect(fromFinal.map((t) => t.token)).toEqual(fromModel.map((t) => t.token));
    fromFinal.forEach((t, i) => expect(t.logprob).toBeCloseTo(fromModel[i]!.logprob, 4));
    const largest = Math.max(...fromEarlier.map((t, i) => Math.abs(t.logprob - (fromFinal[i]?.logprob ?? 0))));
    expect(largest).toBeGreaterThan(1e-3);
    expect(app().app.services.inference.onDemandLoadCount(earlier)).toBe(1);
  });

  it('unloads the least recently used model to stay within the budget, and answers the same after reloading', async () => {
    const [earlier, final] = checkpoints as [string, string];
    // The checkpoints are merged copies (a model's weights each); the LoRA fine-tune is its
    // adapter over the shared base runtime, and counts only its factors.
    const before = await greedy(final);
    expect(onDemand()).toEqual([final]);
    const loads = app().app.services.inference.onDemandLoadCount(model);
    const answer = await greedy(model);
    expect(onDemand()).toEqual([final, model]);
    expect(app().app.services.inference.onDemandLoadCount(model)).toBe(loads + 1);
    expect(await greedy(final)).toBe(before);
    // A second merged copy does not fit beside the first: the least recently used go first.
    expect(await greedy(earlier)).toBeTruthy();
    expect(onDemand()).toEqual([earlier]);
    expect(await greedy(model)).toBe(answer);
    const factors = app().app.services.inference.adapterStats().bytes;
    expect(factors).toBeGreaterThan(0);
    const state = app().app.services.inference.onDemandModels();
    expect(state.map((m) => [m.model, m.servedAs, m.bytes, m.users])).toEqual([
      [earlier, 'MERGED', weightBytes, 0],
      [model, 'ADAPTER', factors, 0],
    ]);
  });

  it('answers logprobs, n, seeded sampling, stop and max_completion_tokens', async () => {
    const lp = await client.chat.completions.create({
      model,
      messages: MESSAGES,
      temperature: 0,
      max_completion_tokens: 8,
      logprobs: true,
      top_logprobs: 3,
      response_format: { type: 'text' },
    });
    const content = lp.choices[0]!.logprobs!.content!;
    const generated = lp.usage!.completion_tokens;
    expect([generated, generated - 1]).toContain(content.length); // an eos has no entry
    for (const entry of content) {
      expect(entry.top_logprobs.length).toBe(3);
      expect(entry.logprob).toBeLessThanOrEqual(0);
      // Greedy: the chosen token is the most likely one.
      expect(entry.top_logprobs[0]).toEqual({ token: entry.token, logprob: entry.logprob, bytes: entry.bytes });
      const probs = entry.top_logprobs.map((t) => t.logprob);
      expect([...probs].sort((a, b) => b - a)).toEqual(probs);
      expect(probs.reduce((s, p) => s + Math.exp(p), 0)).toBeLessThanOrEqual(1 + 1e-6);
    }
    // Streamed, each chunk carries the entries of its tokens: together, the same list.
    const lpStream = await client.chat.completions.create({
      model,
      messages: MESSAGES,
      temperature: 0,
      max_completion_tokens: 8,
      logprobs: true,
      top_logprobs: 3,
      stream: true,
    });
    const streamedEntries = [];
    for await (const chunk of lpStream) streamedEntries.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    expect(streamedEntries).toEqual(content);

    const textLp = await client.completions.create({
      model,
      prompt: 'Paris is',
      max_tokens: 4,
      logprobs: 2,
      temperature: 0,
      logit_bias: NO_EOS,
    });
    const legacy = textLp.choices[0]!.logprobs!;
    expect(legacy.tokens!.length).toBe(4);
    expect(legacy.top_logprobs!.every((top) => Object.keys(top).length <= 2)).toBe(true);
    expect(legacy.tokens!.join('')).toBe(textLp.choices[0]!.text);

    const sampled = { model, messages: MESSAGES, temperature: 1, max_completion_tokens: 20, logit_bias: NO_EOS } as const;
    const one = await client.chat.completions.create({ ...sampled, seed: 42 });
    expect((await client.chat.completions.create({ ...sampled, seed: 42 })).choices[0]!.message.content).toBe(
      one.choices[0]!.message.content,
    );
    expect((await client.chat.completions.create({ ...sampled, seed: 43 })).choices[0]!.message.content).not.toBe(
      one.choices[0]!.message.content,
    );
    const two = await client.chat.completions.create({ ...sampled, seed: 42, n: 2 });
    expect(two.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(two.choices[0]!.message.content).toBe(one.choices[0]!.message.content);
    expect(two.choices[1]!.message.content).not.toBe(two.choices[0]!.message.content);
    expect(two.usage!.completion_tokens).toBe(40);

    // n = 2 streamed: each answer's chunks carry its index and reassemble to the same text.
    const stream = await client.chat.completions.create({ ...sampled, seed: 42, n: 2, stream: true });
    const streamed = ['', ''];
    const finished: Array<string | null> = [null, null];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        streamed[c.index] += c.delta.content ?? '';
        if (c.finish_reason) finished[c.index] = c.finish_reason;
      }
    }
    expect(streamed).toEqual(two.choices.map((c) => c.message.content));
    expect(finished).toEqual(['length', 'length']);

    const full = one.choices[0]!.message.content!;
    const stop = full.slice(6, 9);
    const stopped = await client.chat.completions.create({ ...sampled, seed: 42, stop: [stop] });
    expect(stopped.choices[0]!.message.content).toBe(full.slice(0, full.indexOf(stop)));
    expect(stopped.choices[0]!.finish_reason).toBe('stop');
    const short = await client.chat.completions.create({ ...sampled, max_completion_tokens: 5 });
    expect([short.usage!.completion_tokens, short.choices[0]!.finish_reason]).toEqual([5, 'length']);
  });

  it('refuses unsupported options naming the param, and another account’s models as missing ones', async () => {
    const refused = async (body: Record<string, unknown>) => {
      const err = await client.chat.completions.create({ model, messages: MESSAGES, ...body } as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(body)).toBeInstanceOf(OpenAI.BadRequestError);
      return (err as InstanceType<typeof OpenAI.BadRequestError>).param;
    };
    expect(await refused({ tools: [{ type: 'function', function: { name: 'lookup', parameters: {} } }] })).toBe('tools');
    expect(await refused({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } })).toBe('response_format');
    expect(await refused({ response_format: { type: 'json_object' } })).toBe('response_format');
    expect(await refused({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] })).toBe(
      'messages[0].content[0]',
    );
    expect(await refused({ audio: { voice: 'alloy', format: 'mp3' }, modalities: ['text', 'audio'] })).toBe('audio');
    expect(await refused({ top_logprobs: 2 })).toBe('top_logprobs');
    expect(await refused({ n: 9 })).toBe('n');

    const bobClient = new OpenAI({ apiKey: bob.apiKey, baseURL: `${app().url}/v1`, maxRetries: 0 });
    for (const id of [model, checkpoints[0]!, `${model}:ckpt-step-999`]) {
      const err = await greedy(id, bobClient).catch((e: unknown) => e);
      expect(err, id).toBeInstanceOf(OpenAI.NotFoundError);
      expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    }
    // A fine-tuned model whose files are gone: a 500 naming the reason, and the next request tries again.
    const db = app().app.services.db;
    const row = await db.selectFrom('models').selectAll().where('id', '=', model).executeTakeFirstOrThrow();
    const broken = `${model.slice(0, model.lastIndexOf(':'))}:zzzzzzzz`;
    await db
      .insertInto('models')
      .values({
        ...row,
        training_defaults: row.training_defaults && JSON.stringify(row.training_defaults),
        id: broken,
        storage_path: path.join(dataDir, 'no-such-model'),
        onnx_path: null,
        adapter_path: path.join(dataDir, 'no-such-model', 'adapter'),
        created_at: undefined,
      })
      .execute();
    for (let attempt = 0; attempt < 2; attempt++) {
      const failed = await greedy(broken).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(OpenAI.InternalServerError);
      expect((failed as InstanceType<typeof OpenAI.InternalServerError>).code).toBe('model_load_failed');
      expect((failed as Error).message).toContain(broken);
      expect((failed as Error).message).not.toContain(dataDir);
    }
    expect(app().app.services.inference.onDemandLoadCount(broken)).toBe(2);
    expect(onDemand()).not.toContain(broken);
    await db.deleteFrom('models').where('id', '=', broken).execute();

    // A base model still needs a deployment.
    const base = await greedy('tiny').catch((e: unknown) => e);
    expect(base).toBeInstanceOf(OpenAI.NotFoundError);
    expect((base as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_deployed');
  });

  it('never unloads an explicit deployment: neither under budget pressure nor after the idle time', async () => {
    const [earlier, final] = checkpoints as [string, string];
    const answer = await greedy(model);
    // Merged: this test follows the model's own runtime (deployed as an adapter, a LoRA
    // fine-tune shares its base's runtime instead: test/inference/adapters.test.ts).
    const deployed = await post(app(), alice.apiKey, '/api/deployments', { modelId: model, servedAs: 'MERGED' });
    expect(deployed.status).toBe(201);
    const { id } = (await deployed.json()) as { id: string };
    await app().app.services.inference.waitReady(alice.accountId, id, { timeoutMs: 60_000 });
    // The checkpoints push the on-demand copy out; the deployment keeps the runtime.
    await greedy(final);
    await greedy(earlier);
    expect(onDemand()).toEqual([earlier]);
    expect(app().app.services.inference.loadedRuntimes()).toContain(model);
    const loads = app().app.services.inference.onDemandLoadCount(model);
    expect(await greedy(model)).toBe(answer);
    expect(app().app.services.inference.onDemandLoadCount(model)).toBe(loads);

    // Restart with a one-second idle time: on-demand models go when idle, the deployment stays.
    await app().stop();
    t = undefined;
    await start({ onDemandIdleMs: 1_000, onDemandMemoryBytes: 10 * weightBytes });
    client = new OpenAI({ apiKey: alice.apiKey, baseURL: `${app().url}/v1`, maxRetries: 0 });
    await app().app.services.inference.waitReady(alice.accountId, id, { timeoutMs: 60_000 });
    const checkpointAnswer = await greedy(final);
    expect(onDemand()).toEqual([final]);
    while (app().app.services.inference.onDemandModels().length > 0) await new Promise((r) => setTimeout(r, 100));
    expect(app().app.services.inference.loadedRuntimes()).toEqual([model]);
    expect(await greedy(final)).toBe(checkpointAnswer);
    expect(app().app.services.inference.onDemandLoadCount(final)).toBe(2);
    expect(await greedy(model)).toBe(answer);
    expect(app().app.services.inference.onDemandLoadCount(model)).toBe(0);

    // A checkpoint is served with its base model's default quantization.
    await app().app.services.db.updateTable('models').set({ default_quantization: 'INT8' }).where('id', '=', 'tiny').execute();
    expect(await greedy(earlier)).toEqual(expect.any(String));
    const keys = app()
      .app.services.inference.onDemandModels()
      .map((m) => m.key);
    expect(keys).toContain(`${earlier}@INT8`);
    expect(keys).not.toContain(earlier);
  }, 120_000);
});
