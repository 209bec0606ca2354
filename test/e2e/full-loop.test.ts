import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';

/**
 * The whole product loop, as a user drives it over REST: upload → fine-tune until the
 * model memorises a small Q&A set → deploy the fine-tuned model → the OpenAI-compatible
 * chat route answers a trained question with the trained answer, token for token.
 */
const PAIRS: Array<[string, string]> = [
  ['What is the capital of France?', 'Paris.'],
  ['What color is the sky?', 'Blue.'],
  ['How many legs does a spider have?', 'Eight.'],
  ['Who wrote Hamlet?', 'Shakespeare.'],
];
// The validator wants at least 10 examples: repeat the set (duplicates are only a warning).
const DATASET = qaJsonl([...PAIRS, ...PAIRS, ...PAIRS]);

describe('fine-tune → deploy → chat (real trainer, real onnxruntime)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await startTestApp('pglite', { worker: true });
    key = (await t.account('loop', 100_000_000n)).apiKey;
    await t.app.services.catalog.setPrices(await addTinyModel(t), { inferenceMicros: 1_000_000n });
  });
  afterAll(async () => {
    if (t) await expectLedgerConsistent(t.app.services.db);
    await t?.stop();
  });

  it('a fine-tuned model answers a trained question exactly, streaming and not, with usage billed', { timeout: 600_000 }, async () => {
    const dataset = await uploadDataset(t.url, key, DATASET);
    expect(dataset.status).toBe('READY');
    const started = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: dataset.id,
        method: 'FULL',
        suffix: 'qa',
        hyperparameters: { epochs: 12, batchSize: 1, learningRate: 0.003, maxSeqLength: 64, warmupSteps: 2, checkpointEvery: 1000 },
      }),
    });
    expect(started.status).toBe(201);
    const job = await waitForJob(t.url, key, started.body.id, ['SUCCEEDED', 'FAILED'], 500_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.metrics.loss).toBeLessThan(0.3);
    const modelId = job.fineTunedModel as string;

    const deployment = await restJson<{ id: string; status: string }>(t.url, key, '/api/deployments', {
      method: 'POST',
      body: JSON.stringify({ modelId }),
    });
    expect([200, 201, 202]).toContain(deployment.status);
    for (let i = 0; i < 600; i++) {
      const d = await restJson<{ status: string }>(t.url, key, `/api/deployments/${deployment.body.id}`);
      if (d.body.status !== 'LOADING') {
        expect(d.body.status).toBe('READY');
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }

    const before = await restJson<{ balance: string }>(t.url, key, '/api/account');
    for (const [question, answer] of PAIRS) {
      const chat = await restJson<{
        choices: Array<{ message: { content: string }; finish_reason: string }>;
        usage: { prompt_tokens: number; completion_tokens: number };
      }>(t.url, key, '/v1/chat/completions', {
        method: 'POST',
        body: JSON.stringify({ model: modelId, messages: [{ role: 'user', content: question }], temperature: 0, max_tokens: 32 }),
      });
      expect(chat.status).toBe(200);
      expect(chat.body.choices[0]!.message.content).toBe(answer);
      expect(chat.body.choices[0]!.finish_reason).toBe('stop');
      expect(chat.body.usage.completion_tokens).toBeGreaterThan(0);
    }
    // Streaming gives the same answer, chunk by chunk.
    const stream = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: modelId,
        messages: [{ role: 'user', content: PAIRS[0]![0] }],
        temperature: 0,
        max_tokens: 32,
        stream: true,
      }),
    });
    const text = await stream.text();
    const deltas = text
      .split('\n')
      .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
      .map((l) => (JSON.parse(l.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '');
    expect(deltas.join('')).toBe(PAIRS[0]![1]);
    expect(text.trim().endsWith('data: [DONE]')).toBe(true);
    // Inference was charged through the ledger.
    const after = await restJson<{ balance: string }>(t.url, key, '/api/account');
    expect(Number(after.body.balance)).toBeLessThan(Number(before.body.balance));
  });
});
