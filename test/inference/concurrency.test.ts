/**
 * Sharing one deployment: a bounded queue answered by 429 with Retry-After, and clients
 * that leave stopping their generation (and paying only for what was made). The runtime
 * is configured to decode one request at a time with one waiting place.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import type { InferenceUsage } from '../../src/db/tables/inference.js';
import { deployReady, onnxModelFolder, post, sseData } from '../helpers/inference.js';

const NO_EOS = { '1023': -100, '1021': -100 };
const LONG = { model: 'tiny-base', prompt: 'Once upon a time', max_tokens: 480, logit_bias: NO_EOS };

describe('one deployment under load (pglite)', () => {
  let t: TestApp;
  let alice: { accountId: string; apiKey: string };

  beforeAll(async () => {
    // CUDA is asked for first: where onnxruntime has no CUDA build (as on CI), the model runs on
    // the CPU. On a machine with onnxruntime's CUDA build, run with TUNELOOP_EXPECT_CUDA=1.
    t = await startTestApp('pglite', { config: { inferenceMaxBatch: 1, inferenceMaxQueue: 1, inferenceProviders: ['cuda', 'cpu'] } });
    alice = await t.account('alice');
    await t.app.services.catalog.importModel({
      dir: await onnxModelFolder(),
      id: 'tiny-base',
      fineTunable: true,
      inferencePricePerMTokMicros: 1_000_000n,
    });
    const id = await deployReady(t, alice.apiKey, alice.accountId, 'tiny-base');
    const deployment = await t.app.services.inference.getDeployment(alice.accountId, id);
    expect(deployment.execution_provider).toBe(process.env.TUNELOOP_EXPECT_CUDA === '1' ? 'cuda' : 'cpu');
  });
  afterAll(async () => t?.stop());

  /** Polls until the request's usage row exists (it is written when its generation ends). */
  async function usageOf(id: string): Promise<InferenceUsage> {
    for (let i = 0; i < 200; i++) {
      const row = await t.app.services.db.selectFrom('inference_usage').selectAll().where('id', '=', id).executeTakeFirst();
      if (row) return row;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no usage row for ${id}`);
  }

  it('answers 429 with Retry-After beyond the batch and queue, and admits again once a place frees', async () => {
    const running = new AbortController();
    const queued = new AbortController();
    // A streamed response starts (headers) once its request is admitted: running, then queued.
    const first = await post(t, alice.apiKey, '/v1/completions', { ...LONG, stream: true }, running.signal);
    const second = await post(t, alice.apiKey, '/v1/completions', { ...LONG, stream: true }, queued.signal);
    expect([first.status, second.status]).toEqual([200, 200]);
    const third = await post(t, alice.apiKey, '/v1/completions', { ...LONG, max_tokens: 2 });
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await third.json()) as { error: { type: string; code: string } }).error).toMatchObject({
      type: 'rate_limit_exceeded',
      code: 'rate_limit_exceeded',
    });
    running.abort();
    queued.abort();
    await first.body?.cancel().catch(() => {});
    await second.body?.cancel().catch(() => {});
    // Both cancelled requests give their places back within moments (at their next step).
    let again = 0;
    for (let i = 0; i < 100 && again !== 200; i++) {
      const response = await post(t, alice.apiKey, '/v1/completions', { ...LONG, max_tokens: 2 });
      again = response.status;
      await response.body?.cancel();
      if (again === 429) await new Promise((r) => setTimeout(r, 50));
    }
    expect(again).toBe(200);
    const cancelled = await t.app.services.db
      .selectFrom('inference_usage')
      .select('finish_reason')
      .where('finish_reason', '=', 'cancelled')
      .execute();
    expect(cancelled).toHaveLength(2);
  });

  it('stops a streamed generation when the client disconnects, and charges what was generated', async () => {
    const abort = new AbortController();
    const response = await post(t, alice.apiKey, '/v1/completions', { ...LONG, stream: true }, abort.signal);
    let id = '';
    await sseData(response, (data, index) => {
      id = (JSON.parse(data) as { id: string }).id;
      return index >= 2;
    });
    abort.abort();
    const usage = await usageOf(id);
    expect(usage.finish_reason).toBe('cancelled');
    expect(usage.completion_tokens).toBeGreaterThanOrEqual(3);
    expect(usage.completion_tokens).toBeLessThan(LONG.max_tokens / 2);
    expect(usage.cost_micros).toBe(BigInt(usage.prompt_tokens + usage.completion_tokens)); // 1 micro-USD a token
    const account = await t.app.services.accounts.getAccount(alice.accountId);
    expect(account.reserved_micros).toBe(0n);
  });

  it('stops a non-streamed generation when the client disconnects', async () => {
    const abort = new AbortController();
    const pending = post(
      t,
      alice.apiKey,
      '/v1/chat/completions',
      { model: 'tiny-base', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 480, logit_bias: NO_EOS },
      abort.signal,
    );
    await new Promise((r) => setTimeout(r, 400));
    abort.abort();
    await expect(pending).rejects.toThrow();
    const rows = async () =>
      t.app.services.db.selectFrom('inference_usage').selectAll().where('endpoint', '=', 'chat.completions').execute();
    for (let i = 0; i < 200 && (await rows()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const [row] = await rows();
    expect(row).toMatchObject({ finish_reason: 'cancelled' });
    expect(row!.completion_tokens).toBeLessThan(480);
  });
});
