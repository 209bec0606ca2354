import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';
import { GuardedContext, ensureConsoleBuilt, launchBrowser } from '../../src/dev/browser.js';

/**
 * The console's job page of a DPO job, in a real browser against a real DPO run of the
 * tiny model: the reward chart draws every step's reward accuracy and margin, and the facts
 * show the method's trained weights and the latest rewards. A supervised job has no reward
 * chart. Browser guarded as in console.test.ts (loopback only, no page or console error).
 */
const PAIRS = Array.from({ length: 12 }, (_, i) =>
  JSON.stringify({
    input: { messages: [{ role: 'user', content: `Say yes or no, ${i}.` }] },
    preferred_output: [{ role: 'assistant', content: 'Yes.' }],
    non_preferred_output: [{ role: 'assistant', content: 'No.' }],
  }),
).join('\n');

let browser: Browser;
beforeAll(async () => {
  ensureConsoleBuilt();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(engines())('console: a DPO job’s rewards (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let guarded: GuardedContext;
  let page: Page;
  let jobId: string;
  let steps: Array<{ step: number; rewardAccuracy: number; rewardMargin: number }>;

  beforeAll(async () => {
    t = await startTestApp(engine, { worker: true });
    key = (await t.account('rewards', 50_000_000n)).apiKey;
    await addTinyModel(t);
    const dataset = await uploadDataset(t.url, key, `${PAIRS}\n`);
    const started = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: dataset.id,
        method: 'DPO',
        hyperparameters: { epochs: 2, batchSize: 4, learningRate: 0.01, maxSeqLength: 32 },
      }),
    });
    jobId = started.body.id;
    const job = await waitForJob(t.url, key, jobId, ['SUCCEEDED', 'FAILED'], 600_000);
    expect(job.status, JSON.stringify(job.error)).toBe('SUCCEEDED');
    const events = await restJson<{ data: Array<{ type: string; step: number; rewardAccuracy: number; rewardMargin: number }> }>(
      t.url,
      key,
      `/api/training/${jobId}/events?limit=100`,
    );
    steps = events.body.data.filter((e) => e.type === 'step');
    guarded = await GuardedContext.create(browser);
    page = await guarded.newPage();
    await page.goto(`${t.url}/jobs`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
  }, 900_000);
  afterAll(async () => {
    await guarded?.close();
    await t?.stop();
  });

  it('draws every step’s reward accuracy and margin, and shows the latest rewards', async () => {
    expect(steps.length).toBe(6);
    await page.goto(`${t.url}/jobs/${jobId}`);
    const chart = page.getByRole('img', { name: /^Reward chart/ });
    const last = steps.at(-1)!;
    await expect
      .poll(() => chart.getAttribute('aria-label'))
      .toBe(`Reward chart: 6 steps; at step 6: accuracy ${last.rewardAccuracy.toFixed(2)}, margin ${last.rewardMargin.toFixed(3)}`);
    // uPlot drew the two series into its canvas.
    expect(await chart.locator('canvas').count()).toBe(1);
    expect(await chart.locator('.u-legend').textContent()).toContain('reward margin');
    const facts = (await page.locator('dl.facts').first().textContent()) ?? '';
    expect(facts).toContain('DPO (LoRA)');
    expect(facts).toContain(`accuracy ${last.rewardAccuracy.toFixed(2)}`);
    await guarded.screenshot(page, `dpo-rewards-${engine}.png`);
  });

  it('shows no reward chart for a supervised job; no page error, nothing outside loopback', async () => {
    const chat = await uploadDataset(
      t.url,
      key,
      `${Array.from({ length: 10 }, (_, i) =>
        JSON.stringify({
          messages: [
            { role: 'user', content: `q${i}` },
            { role: 'assistant', content: 'a' },
          ],
        }),
      ).join('\n')}\n`,
    );
    const sft = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ baseModel: 'tiny', trainingDataset: chat.id, method: 'FULL', hyperparameters: { epochs: 1, batchSize: 10 } }),
    });
    await waitForJob(t.url, key, sft.body.id, ['SUCCEEDED', 'FAILED'], 600_000);
    await page.goto(`${t.url}/jobs/${sft.body.id}`);
    await page.getByRole('img', { name: /loss/ }).waitFor();
    expect(await page.getByRole('img', { name: /^Reward chart/ }).count()).toBe(0);
    expect(await page.getByRole('heading', { name: 'Rewards' }).count()).toBe(0);
    expect(guarded.blocked).toEqual([]);
    expect(guarded.errors).toEqual([]);
  }, 600_000);
});
