import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';
import { TINY_MODEL_DEFAULTS } from '../../src/catalog/training-defaults.js';

/**
 * "auto" fits real data: the tiny model, registered with the training defaults
 * `models init-tiny` gives it, fine-tuned with auto hyperparameters on datasets of 15, 40
 * and 90 made-up facts (not the demo's) — with the default method (LoRA, served as an
 * adapter) and with FULL — deployed, answers at least 90 % of the trained questions
 * exactly at temperature 0.
 *
 * PGlite only: the database engine plays no part in what the model learns, and this file
 * trains six real jobs (a few minutes on two cores).
 */

const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'ra',
  'ven',
  'dor',
  'thu',
  'zel',
  'qui',
  'bar',
  'nis',
  'tor',
  'pel',
  'gan',
  'sho',
  'rim',
  'ast',
  'ul',
  'fen',
  'wik',
];
const COLORS = ['Red', 'Green', 'Blue', 'Orange', 'Purple', 'Silver', 'Gold', 'Teal', 'Black', 'White'];

/** mulberry32: a small seeded generator, so every run trains on the same facts. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` facts about invented places and people: nothing a model could know beforehand. */
function madeUpFacts(n: number, seed: number): Array<[string, string]> {
  const rand = random(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const word = (syllables = 2 + Math.floor(rand() * 2)) => {
    const w = Array.from({ length: syllables }, () => pick(SYLLABLES)).join('');
    return w[0]!.toUpperCase() + w.slice(1);
  };
  const templates: Array<(subject: string) => [string, string]> = [
    (s) => [`What is the capital of ${s}?`, `${word()}.`],
    (s) => [`Who founded ${s}?`, `${word(2)} ${word(2)}.`],
    (s) => [`What color is the flag of ${s}?`, `${pick(COLORS)} and ${pick(COLORS).toLowerCase()}.`],
    (s) => [`Which river flows through ${s}?`, `The ${word()}.`],
  ];
  const facts: Array<[string, string]> = [];
  const subjects = new Set<string>();
  while (facts.length < n) {
    const subject = word();
    if (subjects.has(subject)) continue;
    subjects.add(subject);
    facts.push(pick(templates)(subject));
  }
  return facts;
}

describe('auto hyperparameters fit small datasets (tiny model, real trainer, real inference)', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await startTestApp('pglite', { worker: true });
    key = (await t.account('auto', 1_000_000_000n)).apiKey;
    await t.app.services.catalog.importModel({
      dir: await tinyModelFolder(),
      id: 'tiny-auto',
      fineTunable: true,
      trainingDefaults: TINY_MODEL_DEFAULTS,
    });
  });
  afterAll(async () => t?.stop());

  it("the catalog shows the model's training defaults, over REST and GraphQL", async () => {
    const expected = {
      learningRate: { LORA: 1e-3, FULL: 2e-3 },
      targetExamples: 4000,
      minEpochs: 10,
      maxEpochs: 40,
      loraRank: 32,
      loraTargetModules: ['all-linear'],
    };
    const listed = await restJson<{ data: Array<{ id: string; trainingDefaults: Record<string, unknown> }> }>(t.url, key, '/api/models');
    expect(listed.body.data.find((m) => m.id === 'tiny-auto')?.trainingDefaults).toEqual(expected);
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        query:
          '{ model(id: "tiny-auto") { trainingDefaults { learningRate { LORA FULL } targetExamples minEpochs maxEpochs loraRank loraTargetModules } } }',
      }),
    });
    expect(((await response.json()) as { data: { model: { trainingDefaults: unknown } } }).data.model.trainingDefaults).toEqual(expected);
  });

  it('learns 15, 40 and 90 made-up facts with the default method (LoRA) and FULL: ≥ 90 % answered exactly after deploy', {
    timeout: 3_600_000,
  }, async () => {
    const datasets = [madeUpFacts(15, 1), madeUpFacts(40, 2), madeUpFacts(90, 3)];
    // No method: the default (LoRA, served as an adapter); then full fine-tuning.
    const methods = [
      { method: undefined, learningRate: 1e-3, loraRank: 32 },
      { method: 'FULL', learningRate: 2e-3, loraRank: null },
    ];
    const sets = methods.flatMap((m) => datasets.map((facts) => ({ ...m, facts })));
    const began = Date.now();
    // Start them all at once; the worker trains them one after the other.
    const jobs = [];
    const uploaded = new Map<Array<[string, string]>, string>();
    for (const { facts, method, learningRate, loraRank } of sets) {
      if (!uploaded.has(facts)) {
        const dataset = await uploadDataset(t.url, key, qaJsonl(facts));
        expect(dataset.status).toBe('READY');
        uploaded.set(facts, dataset.id);
      }
      const request = JSON.stringify({ baseModel: 'tiny-auto', trainingDataset: uploaded.get(facts), ...(method ? { method } : {}) });
      const estimate = await restJson<{ epochs: number; hyperparameters: Record<string, unknown> }>(t.url, key, '/api/fine-tune/estimate', {
        method: 'POST',
        body: request,
      });
      expect(estimate.body.hyperparameters).toMatchObject({ learningRate, loraRank });
      const started = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', { method: 'POST', body: request });
      expect(started.status).toBe(201);
      jobs.push(started.body.id);
    }
    const report: string[] = [];
    for (const [i, { facts, method }] of sets.entries()) {
      const job = await waitForJob(t.url, key, jobs[i]!, ['SUCCEEDED', 'FAILED'], 3_000_000);
      expect(job.status, JSON.stringify(job.error)).toBe('SUCCEEDED');
      const deployment = await restJson<{ id: string; status: string }>(t.url, key, '/api/deployments', {
        method: 'POST',
        body: JSON.stringify({ modelId: job.fineTunedModel }),
      });
      let status = deployment.body.status;
      for (let wait = 0; status === 'LOADING' && wait < 1200; wait++) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await restJson<{ status: string }>(t.url, key, `/api/deployments/${deployment.body.id}`)).body.status;
      }
      expect(status).toBe('READY');
      let right = 0;
      const wrong: string[] = [];
      for (const [question, answer] of facts) {
        const chat = await restJson<{ choices: Array<{ message: { content: string } }> }>(t.url, key, '/v1/chat/completions', {
          method: 'POST',
          body: JSON.stringify({
            model: job.fineTunedModel,
            messages: [{ role: 'user', content: question }],
            temperature: 0,
            max_tokens: 24,
          }),
        });
        expect(chat.status).toBe(200);
        const got = chat.body.choices[0]!.message.content;
        if (got === answer) right++;
        else wrong.push(`${question} → ${JSON.stringify(got)} (trained: ${answer})`);
      }
      report.push(
        `${method ?? 'LORA'}, ${facts.length} facts: ${right}/${facts.length} exact; epochs ${job.hyperparameters.epochs}, batch ${job.hyperparameters.batchSize}, ` +
          `${job.progress.totalSteps} steps, ${job.trainedTokens} tokens, final loss ${job.metrics.loss.toFixed(4)}`,
      );
      expect(right / facts.length, wrong.join('\n')).toBeGreaterThanOrEqual(0.9);
    }
    // Not asserted (timings live in bench/): printed so a slow CI shows where its time goes.
    console.log(`${report.join('\n')}\nall six: ${((Date.now() - began) / 1000).toFixed(0)} s`);
  });
});
