/**
 * Generation through the real stack: the trainer's tiny model exported to ONNX, loaded by
 * onnxruntime-node in the runtime worker, served on the OpenAI-compatible routes and the
 * GraphQL API, paid for through the ledger.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql, wsClient, wsCollect } from '../helpers/clients.js';
import { GenerateDocument, GenerateStreamDocument } from '../generated/graphql.js';
import type { GenerateStreamSubscription } from '../generated/graphql.js';
import { deployReady, insertFineTunedModel, onnxModelFolder, post, sseData, torchGreedy } from '../helpers/inference.js';

const PRICE_PER_MTOK = 1_000_000_000n; // $1000 per million tokens: 1000 micro-USD a token
const EOS = [1023, 1021];
const NO_EOS = { '1023': -100, '1021': -100 };

interface ChatCompletion {
  id: string;
  object: string;
  model: string;
  choices: Array<{ index: number; message: { role: string; content: string }; finish_reason: string }>;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}
interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

describe.each(engines())('OpenAI-compatible inference (%s)', (engine) => {
  let t: TestApp;
  let alice: { accountId: string; apiKey: string };
  let bob: { accountId: string; apiKey: string };
  let modelDir: string;
  let aliceModel: string;

  const chat = (key: string, body: Record<string, unknown>) =>
    post(t, key, '/v1/chat/completions', { model: 'tiny-base', messages: [{ role: 'user', content: 'Tell me a story' }], ...body });

  beforeAll(async () => {
    t = await startTestApp(engine);
    alice = await t.account('alice', 100_000_000n);
    bob = await t.account('bob', 100_000_000n);
    modelDir = await onnxModelFolder();
    await t.app.services.catalog.importModel({
      dir: modelDir,
      id: 'tiny-base',
      fineTunable: true,
      inferencePricePerMTokMicros: PRICE_PER_MTOK,
    });
    aliceModel = await insertFineTunedModel(t, alice.accountId, modelDir, 'alice');
    await deployReady(t, alice.apiKey, alice.accountId, 'tiny-base');
  });
  afterAll(async () => t?.stop());

  it('decodes the same greedy tokens as torch, alone and batched with other requests', async () => {
    const inference = t.app.services.inference;
    const prompts = ['Tell me a story', 'The capital of France is', 'Once upon a time, in a land far away, there lived'];
    const results = await Promise.all(
      prompts.map((content, i) =>
        inference.complete({
          accountId: alice.accountId,
          model: 'tiny-base',
          input: i === 1 ? { prompt: content } : { messages: [{ role: 'user', content }] },
          params: { temperature: 0, maxTokens: 24 },
        }),
      ),
    );
    const reference = torchGreedy(
      modelDir,
      results.map((r) => r.promptTokenIds),
      24,
      EOS,
    );
    results.forEach((r, i) => expect(r.tokenIds, `prompt ${i}`).toEqual(reference[i]));
    const alone = await inference.complete({
      accountId: alice.accountId,
      model: 'tiny-base',
      input: { prompt: prompts[1]! },
      params: { temperature: 0, maxTokens: 24 },
    });
    expect(alone.tokenIds).toEqual(reference[1]);
    expect(alone.text).toBe(results[1]!.text);
  });

  it('answers a chat completion in OpenAI’s shape, with usage', async () => {
    const response = await chat(alice.apiKey, { temperature: 0, max_tokens: 12 });
    expect(response.status).toBe(200);
    const body = (await response.json()) as ChatCompletion;
    expect(body.object).toBe('chat.completion');
    expect(body.model).toBe('tiny-base');
    expect(body.choices[0]!.message.role).toBe('assistant');
    expect(['stop', 'length']).toContain(body.choices[0]!.finish_reason);
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
    expect(body.usage.completion_tokens).toBeLessThanOrEqual(12);
  });

  it('streams chunks that reassemble to the non-streamed answer (chat and completions)', async () => {
    const params = { temperature: 0.9, seed: 11, max_tokens: 40, logit_bias: NO_EOS };
    const whole = (await (await chat(alice.apiKey, params)).json()) as ChatCompletion;
    const streamed = await chat(alice.apiKey, { ...params, stream: true, stream_options: { include_usage: true } });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('content-type')).toContain('text/event-stream');
    const data = await sseData(streamed);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map(
      (d) =>
        JSON.parse(d) as {
          object: string;
          choices: Array<{ delta: { role?: string; content?: string }; finish_reason: string | null }>;
          usage?: ChatCompletion['usage'];
        },
    );
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const text = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(chunks.filter((c) => c.choices.length && c.choices[0]!.delta.content).length).toBeGreaterThan(5);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
    expect(chunks.at(-1)!.usage).toEqual(whole.usage);

    const completion = { model: 'tiny-base', prompt: 'Hello, my name is', ...params };
    const plain = (await (await post(t, alice.apiKey, '/v1/completions', completion)).json()) as {
      object: string;
      choices: Array<{ text: string }>;
    };
    expect(plain.object).toBe('text_completion');
    const pieces = await sseData(await post(t, alice.apiKey, '/v1/completions', { ...completion, stream: true }));
    const joined = pieces
      .slice(0, -1)
      .map((d) => (JSON.parse(d) as { choices: Array<{ text: string }> }).choices[0]!.text)
      .join('');
    expect(joined).toBe(plain.choices[0]!.text);
  });

  it('ends the answer before a stop sequence', async () => {
    const params = { temperature: 0.9, seed: 5, max_tokens: 40, logit_bias: NO_EOS };
    const full = ((await (await chat(alice.apiKey, params)).json()) as ChatCompletion).choices[0]!.message.content;
    const stop = full.slice(12, 15);
    const cut = full.indexOf(stop);
    expect(stop.length).toBe(3);
    const stopped = (await (await chat(alice.apiKey, { ...params, stop: [stop, 'never-there'] })).json()) as ChatCompletion;
    expect(stopped.choices[0]!.message.content).toBe(full.slice(0, cut));
    expect(stopped.choices[0]!.finish_reason).toBe('stop');
    const data = await sseData(await chat(alice.apiKey, { ...params, stop, stream: true }));
    const text = data
      .slice(0, -1)
      .map((d) => (JSON.parse(d) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
      .join('');
    expect(text).toBe(full.slice(0, cut));
  });

  it('stops at max_tokens with finish_reason length', async () => {
    const body = (await (await chat(alice.apiKey, { max_tokens: 7, logit_bias: NO_EOS })).json()) as ChatCompletion;
    expect(body.usage.completion_tokens).toBe(7);
    expect(body.choices[0]!.finish_reason).toBe('length');
    const completion = (await (
      await post(t, alice.apiKey, '/v1/completions', { model: 'tiny-base', prompt: 'Hi', logit_bias: NO_EOS })
    ).json()) as ChatCompletion;
    expect(completion.usage.completion_tokens).toBe(16); // OpenAI's default for completions
  });

  it('reproduces a sampled answer from its seed', async () => {
    const answer = async (seed: number) =>
      (
        (await (
          await chat(alice.apiKey, { temperature: 1, top_p: 0.95, top_k: 50, seed, max_tokens: 30, logit_bias: NO_EOS })
        ).json()) as ChatCompletion
      ).choices[0]!.message.content;
    const first = await answer(1234);
    expect(await answer(1234)).toBe(first);
    expect(await answer(4321)).not.toBe(first);
  });

  it('answers bad requests with OpenAI errors', async () => {
    const error = async (response: Response) => ({ status: response.status, ...((await response.json()) as OpenAiErrorBody).error });
    const unknown = await error(await chat(alice.apiKey, { model: 'no-such-model' }));
    expect(unknown).toMatchObject({ status: 404, type: 'invalid_request_error', code: 'model_not_found' });
    expect(unknown.message).toContain('no-such-model');
    // Bob cannot see Alice's fine-tuned model: the same answer as a missing one.
    const foreign = await error(await chat(bob.apiKey, { model: aliceModel }));
    expect(foreign).toEqual({ ...unknown, message: unknown.message.replace('no-such-model', aliceModel) });
    // A visible model Bob has not deployed.
    expect(await error(await chat(bob.apiKey, {}))).toMatchObject({ status: 404, code: 'model_not_deployed' });
    expect(await error(await chat(alice.apiKey, { messages: [{ role: 'user', content: 'word '.repeat(700) }] }))).toMatchObject({
      status: 400,
      code: 'context_length_exceeded',
      param: 'messages',
    });
    expect(await error(await chat(alice.apiKey, { max_tokens: 510 }))).toMatchObject({ status: 400, code: 'context_length_exceeded' });
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ temperature: 3 }, 'temperature'],
      [{ top_p: -0.5 }, 'top_p'],
      [{ max_tokens: 0 }, 'max_tokens'],
      [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ n: 9 }, 'n'],
      [{ tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools'],
      [{ response_format: { type: 'json_object' } }, 'response_format'],
      [{ top_logprobs: 2 }, 'top_logprobs'],
      [{ logprobs: true, top_logprobs: 21 }, 'top_logprobs'],
      [{ logit_bias: { '99999': 5 } }, 'logit_bias'],
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0].role'],
    ];
    for (const [body, param] of bad) {
      expect(await error(await chat(alice.apiKey, body)), JSON.stringify(body)).toMatchObject({
        status: 400,
        type: 'invalid_request_error',
        param,
      });
    }
    expect(await error(await post(t, alice.apiKey, '/v1/chat/completions', '{"model": '))).toMatchObject({
      status: 400,
      code: 'invalid_json',
    });
    expect(await error(await post(t, alice.apiKey, '/v1/completions', { prompt: 'x' }))).toMatchObject({ status: 400, param: 'model' });
    expect(await error(await post(t, undefined, '/v1/completions', { model: 'tiny-base', prompt: 'x' }))).toMatchObject({
      status: 401,
      code: 'invalid_api_key',
    });
  });

  it('charges prompt and completion tokens through the ledger', async () => {
    // A stop sequence ends the answer before max_tokens: the unused part of the reservation is released.
    const params = { temperature: 0.9, seed: 5, max_tokens: 20, logit_bias: NO_EOS };
    const full = ((await (await chat(alice.apiKey, params)).json()) as ChatCompletion).choices[0]!.message.content;
    const before = await t.app.services.accounts.getAccount(alice.accountId);
    const body = (await (await chat(alice.apiKey, { ...params, stop: full.slice(12, 15) })).json()) as ChatCompletion;
    expect(body.usage.completion_tokens).toBeLessThan(20);
    const cost = BigInt(body.usage.total_tokens) * (PRICE_PER_MTOK / 1_000_000n);
    const reserved = BigInt(body.usage.prompt_tokens + 20) * 1000n; // prompt + max_tokens
    const after = await t.app.services.accounts.getAccount(alice.accountId);
    expect(before.balance_micros - after.balance_micros).toBe(cost);
    expect(after.reserved_micros).toBe(before.reserved_micros);
    const entries = await t.app.services.db
      .selectFrom('ledger_entries')
      .selectAll()
      .where('reference_id', '=', body.id)
      .orderBy('seq')
      .execute();
    expect(entries.map((e) => [e.type, e.amount_micros, e.hold_micros])).toEqual([
      ['reserve', 0n, reserved],
      ['charge', -cost, -cost],
      ['release', 0n, -(reserved - cost)],
    ]);
    const usage = await t.app.services.db.selectFrom('inference_usage').selectAll().where('id', '=', body.id).executeTakeFirstOrThrow();
    expect(usage).toMatchObject({
      account_id: alice.accountId,
      model_id: 'tiny-base',
      endpoint: 'chat.completions',
      prompt_tokens: body.usage.prompt_tokens,
      completion_tokens: body.usage.completion_tokens,
      cost_micros: cost,
      finish_reason: 'stop',
    });
    const listed = (await (
      await fetch(`${t.url}/api/inference/usage?limit=1`, { headers: { authorization: `Bearer ${alice.apiKey}` } })
    ).json()) as {
      data: Array<{ id: string; cost: string }>;
    };
    expect(listed.data[0]).toMatchObject({ id: body.id, cost: (Number(cost) / 1e6).toFixed(6) });
  });

  it('refuses a request the balance cannot cover (402, nothing charged)', async () => {
    const poor = await t.account('poor', 1_000n); // covers one token
    await deployReady(t, poor.apiKey, poor.accountId, 'tiny-base');
    const response = await chat(poor.apiKey, { max_tokens: 5 });
    expect(response.status).toBe(402);
    expect(((await response.json()) as OpenAiErrorBody).error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    const account = await t.app.services.accounts.getAccount(poor.accountId);
    expect([account.balance_micros, account.reserved_micros]).toEqual([1_000n, 0n]);
  });

  it('generates over GraphQL: the generate mutation and the generateStream subscription agree', async () => {
    const input = { model: 'tiny-base', messages: [{ role: 'user', content: 'Hello' }], temperature: 0.7, seed: 3, maxTokens: 20 };
    const result = await gql(t.url, alice.apiKey, GenerateDocument, { input });
    const completion = result.data!.generate.completion!;
    expect(result.data!.generate.errors).toEqual([]);
    expect(completion.usage.completionTokens).toBeGreaterThan(0);
    const client = wsClient(t.url, alice.apiKey);
    try {
      const events = await wsCollect<GenerateStreamSubscription>(client, GenerateStreamDocument.toString(), { input });
      const streamed = events.map((e) => e.data!.generateStream);
      expect(streamed.map((e) => e.text).join('')).toBe(completion.text);
      expect(streamed.at(-1)).toMatchObject({
        done: true,
        finishReason: completion.finishReason,
        usage: { completionTokens: completion.usage.completionTokens },
      });
    } finally {
      await client.dispose();
    }
    const refused = await gql(t.url, bob.apiKey, GenerateDocument, { input: { ...input, temperature: 9 } });
    expect(refused.data!.generate.errors[0]).toMatchObject({ code: 'MODEL_NOT_DEPLOYED' });
    const invalid = await gql(t.url, alice.apiKey, GenerateDocument, { input: { ...input, temperature: 9 } });
    expect(invalid.data!.generate.errors[0]).toMatchObject({ code: 'INVALID_INPUT', field: 'temperature' });
  });
});
