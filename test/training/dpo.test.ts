import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { gql, readSse } from '../helpers/clients.js';
import { addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';
import { StartFineTuneDocument } from '../generated/graphql.js';

/**
 * SFT then DPO, end to end with the real trainer and real inference. The tiny model is fine-tuned (FULL) on questions whose answers are split between
 * two variants — each question twice with "… blue." and once with "… red." — so it answers
 * blue at temperature 0 while red is learnt too. A LoRA DPO job continued from that
 * fine-tuned model, on pairs preferring the red variant, must make the deployed model
 * answer red for most of the questions, with the reward accuracy of its step events above
 * 0.9. (Measured: 0/12 red after SFT, 12/12 after DPO. At a learning rate of 1e-2 the
 * rewards separate just as well but the answers degrade into noise: the test checks the
 * text, not only the metrics.) A FULL job continued
 * from a checkpoint of the SFT job starts where that checkpoint left off.
 *
 * Small on purpose (12 questions, a few hundred steps in all): the point is that the
 * preference moves the model, not how far.
 */

const NAMES = ['Kalo', 'Miven', 'Dorthu', 'Zelqui', 'Barnis', 'Torpel', 'Ganrim', 'Astul', 'Fenwik', 'Ravdor', 'Lomira', 'Shoven'];
const question = (name: string) => `What color is ${name}?`;
const answer = (name: string, color: 'red' | 'blue') => `${name} is ${color}.`;

function preferenceJsonl(): string {
  return `${NAMES.map((name) =>
    JSON.stringify({
      input: { messages: [{ role: 'user', content: question(name) }] },
      preferred_output: [{ role: 'assistant', content: answer(name, 'red') }],
      non_preferred_output: [{ role: 'assistant', content: answer(name, 'blue') }],
    }),
  ).join('\n')}\n`;
}

describe.each(engines())('preference tuning after supervised tuning (%s, real trainer)', (engine) => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await startTestApp(engine, { worker: true, config: { leaseSeconds: 30 } });
    key = (await t.account('dpo', 1_000_000_000n)).apiKey;
    await addTinyModel(t, 'tiny');
  });
  afterAll(async () => t?.stop());

  async function deployAndAsk(model: string): Promise<string[]> {
    const deployment = await restJson<{ id: string; status: string }>(t.url, key, '/api/deployments', {
      method: 'POST',
      body: JSON.stringify({ modelId: model }),
    });
    let status = deployment.body.status;
    for (let wait = 0; status === 'LOADING' && wait < 1200; wait++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await restJson<{ status: string }>(t.url, key, `/api/deployments/${deployment.body.id}`)).body.status;
    }
    expect(status).toBe('READY');
    const answers: string[] = [];
    for (const name of NAMES) {
      const chat = await restJson<{ choices: Array<{ message: { content: string } }> }>(t.url, key, '/v1/chat/completions', {
        method: 'POST',
        body: JSON.stringify({ model, messages: [{ role: 'user', content: question(name) }], temperature: 0, max_tokens: 12 }),
      });
      expect(chat.status).toBe(200);
      answers.push(chat.body.choices[0]!.message.content);
    }
    await restJson(t.url, key, `/api/deployments/${deployment.body.id}`, { method: 'DELETE' });
    return answers;
  }

  it('SFT on split answers, then DPO from the SFT model: the preferred variant wins; lineage and rewards shown', {
    timeout: 1_800_000,
  }, async () => {
    // 1. Supervised: each question with both answers, blue twice as often as red.
    const split = NAMES.flatMap((name) => [
      [question(name), answer(name, 'blue')] as [string, string],
      [question(name), answer(name, 'red')] as [string, string],
      [question(name), answer(name, 'blue')] as [string, string],
    ]);
    const sftData = await uploadDataset(t.url, key, qaJsonl(split));
    expect(sftData.status).toBe('READY');
    const sft = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: sftData.id,
        method: 'FULL',
        suffix: 'sft',
        hyperparameters: { epochs: 30, batchSize: 4, learningRate: 0.002, maxSeqLength: 64, checkpointEvery: 30 },
      }),
    });
    expect(sft.status).toBe(201);
    const sftJob = await waitForJob(t.url, key, sft.body.id, ['SUCCEEDED', 'FAILED'], 1_200_000);
    expect(sftJob.status, JSON.stringify(sftJob.error)).toBe('SUCCEEDED');
    const sftModel = sftJob.fineTunedModel as string;
    expect(sftModel).toMatch(/^ft:tiny:sft:/);
    const torn = await deployAndAsk(sftModel);
    // Both variants were learnt, the more frequent one wins at temperature 0: blue, mostly.
    expect(
      torn.every((a, i) => a === answer(NAMES[i]!, 'red') || a === answer(NAMES[i]!, 'blue')),
      torn.join('\n'),
    ).toBe(true);
    expect(torn.filter((a, i) => a === answer(NAMES[i]!, 'red')).length, torn.join('\n')).toBeLessThanOrEqual(3);

    // 2. Preference tuning from the SFT model (GraphQL), LoRA adapters by default.
    const prefData = await uploadDataset(t.url, key, preferenceJsonl());
    expect(prefData.status).toBe('READY');
    const listed = await restJson<{ format: string; examples: number }>(t.url, key, `/api/datasets/${prefData.id}`);
    expect(listed.body).toMatchObject({ format: 'preference', examples: NAMES.length });
    const started = await gql(t.url, key, StartFineTuneDocument, {
      input: {
        baseModel: sftModel,
        trainingDataset: prefData.id,
        validationDataset: prefData.id,
        method: 'DPO',
        suffix: 'dpo',
        hyperparameters: { epochs: 8, batchSize: 4, learningRate: 0.002, beta: 0.1, maxSeqLength: 64 },
      },
    });
    expect(started.data?.startFineTune.errors).toEqual([]);
    const dpoId = started.data!.startFineTune.job!.id;
    const dpoJob = await waitForJob(t.url, key, dpoId, ['SUCCEEDED', 'FAILED'], 1_200_000);
    expect(dpoJob.status, JSON.stringify(dpoJob.error)).toBe('SUCCEEDED');
    expect(dpoJob).toMatchObject({ method: 'DPO', trainable: 'LORA', baseModel: 'tiny', parentModel: sftModel });
    expect(dpoJob.hyperparameters).toMatchObject({ beta: 0.1, loraRank: 8 });

    // Reward metrics in the stored step events (REST pages), the SSE stream and the job.
    const events = await restJson<{ data: Array<Record<string, number | string>> }>(t.url, key, `/api/training/${dpoId}/events?limit=1000`);
    const steps = events.body.data.filter((e) => e.type === 'step');
    expect(steps.length).toBe(dpoJob.progress.totalSteps);
    for (const s of steps)
      expect(Object.keys(s)).toEqual(expect.arrayContaining(['rewardAccuracy', 'rewardMargin', 'chosenReward', 'rejectedReward']));
    // Step 1: the policy is the reference (LoRA adapters start at zero): loss log 2, no reward.
    expect(steps[0]!.loss as number).toBeCloseTo(Math.log(2), 5);
    expect(steps[0]!.rewardAccuracy).toBe(0);
    const lastEpoch = steps.slice(-3).map((s) => s.rewardAccuracy as number);
    expect(lastEpoch.reduce((a, b) => a + b, 0) / lastEpoch.length, JSON.stringify(steps.map((s) => s.rewardAccuracy))).toBeGreaterThan(
      0.9,
    );
    const evals = events.body.data.filter((e) => e.type === 'eval');
    expect(evals.at(-1)!.rewardAccuracy as number).toBeGreaterThan(0.9);
    expect(dpoJob.metrics.rewardAccuracy).toBe(steps.at(-1)!.rewardAccuracy);
    expect(dpoJob.metrics.rewardMargin as number).toBeGreaterThan(0);
    const stream = await fetch(`${t.url}/api/training/${dpoId}/events`, {
      headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    });
    const sse = (await readSse(stream)).filter((e) => e.event === 'step').map((e) => JSON.parse(e.data) as Record<string, number>);
    expect(sse.map((e) => e.rewardAccuracy)).toEqual(steps.map((s) => s.rewardAccuracy));

    // 3. The deployed DPO model prefers red.
    const dpoModel = dpoJob.fineTunedModel as string;
    expect(dpoModel).toMatch(/^ft:tiny:dpo:/);
    const after = await deployAndAsk(dpoModel);
    const red = after.filter((a, i) => a === answer(NAMES[i]!, 'red')).length;
    const redBefore = torn.filter((a, i) => a === answer(NAMES[i]!, 'red')).length;
    console.log(
      `red answers: ${redBefore}/${NAMES.length} after SFT, ${red}/${NAMES.length} after DPO\n${torn.join(' | ')}\n${after.join(' | ')}\n` +
        `reward accuracy by step: ${steps.map((s) => s.rewardAccuracy).join(' ')}`,
    );
    expect(red / NAMES.length, after.join('\n')).toBeGreaterThanOrEqual(0.75);

    // Lineage on the model, REST and GraphQL.
    const models = await restJson<{ data: Array<{ id: string; baseModel: string | null; parentModel: string | null }> }>(
      t.url,
      key,
      '/api/models?limit=100',
    );
    expect(models.body.data.find((m) => m.id === dpoModel)).toMatchObject({ baseModel: 'tiny', parentModel: sftModel });
    expect(models.body.data.find((m) => m.id === sftModel)).toMatchObject({ baseModel: 'tiny', parentModel: null });
    const graph = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ model(id: ${JSON.stringify(dpoModel)}) { parentModel baseModel { id } } }` }),
    });
    expect(((await graph.json()) as { data: unknown }).data).toEqual({ model: { parentModel: sftModel, baseModel: { id: 'tiny' } } });

    // 4. Continued from a checkpoint of the SFT job: a FULL job starts from those weights,
    // so its first loss is already low (the bare base model starts near ln(vocab size)).
    const checkpoints = await restJson<{ data: Array<{ id: string; step: number; metrics: { trainLoss: number } }> }>(
      t.url,
      key,
      `/api/training/${sft.body.id}/checkpoints`,
    );
    const checkpoint = checkpoints.body.data[0]!;
    const fromCheckpoint = await restJson<{ id: string; parentModel: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: `${sftModel}:${checkpoint.id}`,
        trainingDataset: sftData.id,
        method: 'FULL',
        hyperparameters: { epochs: 1, batchSize: 8, learningRate: 0.0001, maxSeqLength: 64 },
      }),
    });
    expect(fromCheckpoint.status, JSON.stringify(fromCheckpoint.body)).toBe(201);
    expect(fromCheckpoint.body.parentModel).toBe(`${sftModel}:${checkpoint.id}`);
    const continued = await waitForJob(t.url, key, fromCheckpoint.body.id, ['SUCCEEDED', 'FAILED'], 600_000);
    expect(continued.status, JSON.stringify(continued.error)).toBe('SUCCEEDED');
    const firstLoss = async (jobId: string) =>
      (
        await restJson<{ data: Array<{ type: string; loss: number }> }>(t.url, key, `/api/training/${jobId}/events?limit=10`)
      ).body.data.find((e) => e.type === 'step')!.loss;
    const [continuedFirst, sftFirst] = [await firstLoss(fromCheckpoint.body.id), await firstLoss(sft.body.id)];
    expect(continuedFirst).toBeLessThan(sftFirst / 2);
    expect(continuedFirst).toBeLessThan(checkpoint.metrics.trainLoss * 2 + 0.5);
  });
});
