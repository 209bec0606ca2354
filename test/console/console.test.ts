import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { expectLedgerConsistent } from '../helpers/ledger.js';
import { addTinyModel } from '../helpers/training.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson } from '../../src/dev/rest-client.js';
import { GuardedContext, ensureConsoleBuilt, launchBrowser } from '../../src/dev/browser.js';

/**
 * The web console in a real browser (Debian's chromium through playwright-core) against
 * the real app, worker and trainer, as a user drives it: sign in, upload datasets, start a
 * job from the form and watch its chart grow live (through a dropped socket) until it
 * SUCCEEDS, pause, resume and cancel a running job, compare two jobs, deploy the fine-tuned model and chat
 * with it, and run a query in GraphiQL. The browser may reach loopback only, and any
 * uncaught page error or console error fails the file (GuardedContext).
 */
const PAIRS: Array<[string, string]> = [
  ['What is the capital of France?', 'Paris.'],
  ['What color is the sky?', 'Blue.'],
  ['How many legs does a spider have?', 'Eight.'],
  ['Who wrote Hamlet?', 'Shakespeare.'],
];
// Three copies: the validator wants 10 examples (duplicates are only a warning).
const GOOD = qaJsonl([...PAIRS, ...PAIRS, ...PAIRS]);
const BAD = `${qaJsonl(PAIRS.slice(0, 1))}{"messages": [\n${JSON.stringify({ messages: [{ role: 'user', content: 'no answer' }] })}\n`;

/** The number of steps the loss chart says it draws ("Training loss chart: 12 steps of 72, …"). */
async function chartSteps(page: Page): Promise<number> {
  const label = (await page.getByRole('img', { name: /loss/ }).getAttribute('aria-label')) ?? '';
  return Number(/(\d+) steps/.exec(label)?.[1] ?? Number.NaN);
}

let browser: Browser;
beforeAll(async () => {
  ensureConsoleBuilt();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(engines())('web console on %s', (engine) => {
  let t: TestApp;
  let key: string;
  let accountId: string;
  let guarded: GuardedContext;
  let page: Page;
  let goodDataset: string;
  let finishedJob: string;
  let finishedSteps: number;
  let cancelledJob: string;

  beforeAll(async () => {
    t = await startTestApp(engine, { worker: true });
    ({ apiKey: key, accountId } = await t.account('console', 50_000_000n));
    await t.app.services.catalog.setPrices(await addTinyModel(t), { inferenceMicros: 1_000_000n });
    guarded = await GuardedContext.create(browser);
    page = await guarded.newPage();
  });
  afterAll(async () => {
    await guarded?.close();
    if (t) await expectLedgerConsistent(t.app.services.db);
    await t?.stop();
  });

  it('serves the console on its deep links without shadowing the API', async () => {
    for (const route of ['/', '/jobs', '/jobs/ftjob_x', '/datasets/ds_x', '/models', '/playground', '/account', '/compare']) {
      const response = await fetch(`${t.url}${route}`);
      expect(response.status, route).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(await response.text()).toContain('<div id="root"></div>');
    }
    const html = await (await fetch(`${t.url}/jobs`)).text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const script = await fetch(`${t.url}${asset}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.url}/api/account`)).status).toBe(401);
    expect((await fetch(`${t.url}/assets/missing.js`)).status).toBe(404);
  });

  it('signs in: a wrong key is refused, the right key opens the jobs page', async () => {
    await page.goto(`${t.url}/jobs`);
    // The browser logs the 401 that the wrong key gets; that one console error is expected.
    guarded.expectedErrors = [/status of 401/];
    await page.getByLabel('API key').fill('tl_not_a_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not accepted');
    expect(guarded.expectedErrors).toEqual([]);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('tuneloop.apiKey'))).toBe(key);
    expect(page.url()).not.toContain(key);
  });

  it('uploads a good and a bad dataset; the bad one lists its errors by line', async () => {
    await page.getByRole('link', { name: 'Datasets' }).click();
    await page.getByLabel('Upload dataset').setInputFiles({ name: 'qa.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(GOOD) });
    await page.waitForURL(/\/datasets\/ds_/);
    goodDataset = page.url().split('/').pop()!;
    await page.locator('.status', { hasText: 'READY' }).waitFor();
    await expect.poll(() => page.locator('dl.facts').textContent()).toContain('Trainable tokens');
    expect(await page.getByRole('list', { name: 'Tokens per example' }).locator('li').count()).toBeGreaterThan(0);

    await page.getByRole('link', { name: 'Datasets' }).click();
    await page.getByLabel('Upload dataset').setInputFiles({ name: 'bad.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(BAD) });
    await page.waitForURL((url) => url.pathname.startsWith('/datasets/ds_') && !url.pathname.endsWith(goodDataset));
    await page.locator('.status', { hasText: 'INVALID' }).waitFor();
    const errors = page.getByRole('table', { name: 'Dataset errors' });
    await expect.poll(() => errors.textContent()).toContain('line 2');
    const text = (await errors.textContent()) ?? '';
    expect(text).toContain('invalid_json');
    expect(text).toContain('line 3');
  });

  it('starts a job from the form (estimate first) and watches its chart grow live, through a dropped socket, to SUCCEEDED', async () => {
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByRole('button', { name: 'New job' }).click();
    const form = page.getByRole('form', { name: 'New job' });
    await form.getByLabel('Training dataset').selectOption(goodDataset);
    await form.getByLabel('Method').selectOption('FULL');
    await form.getByLabel('Epochs').fill('12');
    await form.getByLabel('Batch size').fill('1');
    await form.getByLabel('Learning rate').fill('0.003');
    await form.getByLabel('Max sequence length').fill('64');
    await form.getByLabel('Suffix').fill('qa');
    // The estimate and the balance show before Start is possible.
    await expect.poll(() => form.textContent()).toMatch(/Estimated cost \$[\d.]+ for [\d,]+ tokens \(12 epochs/);
    expect(await form.textContent()).toContain('Available balance $50.00');
    await form.getByRole('button', { name: 'Start' }).click();
    await page.waitForURL(/\/jobs\/ftjob_/);
    finishedJob = page.url().split('/').pop()!;

    // Watch the chart: it must show steps while the job runs, not only at the end.
    const seen = new Set<number>();
    let dropped = false;
    const deadline = Date.now() + 300_000;
    for (;;) {
      const steps = await chartSteps(page);
      if (Number.isFinite(steps)) seen.add(steps);
      const status = await page.locator('.title-row .status').textContent();
      if (!dropped && steps >= 3 && status === 'RUNNING') {
        guarded.dropSockets(); // the console must resubscribe after the last step it holds
        dropped = true;
      }
      if (status === 'SUCCEEDED' || status === 'FAILED') break;
      if (Date.now() > deadline) throw new Error(`job still ${status} after 300 s`);
      await page.waitForTimeout(100);
    }
    expect(await page.locator('.title-row .status').textContent()).toBe('SUCCEEDED');
    const job = await restJson<{ progress: { step: number; totalSteps: number } }>(t.url, key, `/api/training/${finishedJob}`);
    const total = job.body.progress.totalSteps;
    finishedSteps = total;
    expect(total).toBeGreaterThan(20);
    // Every step exactly once: the store skips steps it has, so a lost step would show as fewer.
    await expect.poll(() => chartSteps(page)).toBe(total);
    // …and the canvas was drawn with all of them.
    await expect.poll(() => page.getByRole('img', { name: /loss/ }).getAttribute('data-drawn-step')).toBe(String(total));
    await page.getByText(`step ${total} / ${total}`).waitFor();
    const partial = [...seen].filter((n) => n > 0 && n < total);
    expect(partial.length).toBeGreaterThanOrEqual(2);
    expect(dropped).toBe(true);
    // Checkpoints listed with their metrics; the event log shows the way to SUCCEEDED.
    expect(await page.locator('ol.events').textContent()).toContain('SUCCEEDED');
    await guarded.screenshot(page, `${engine}-job.png`);
  });

  it('pauses a second, running job (PAUSED on its page and in the list), resumes it without losing a step, then cancels it', async () => {
    const started = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: goodDataset,
        method: 'FULL',
        hyperparameters: { epochs: 100, batchSize: 1, maxSeqLength: 64 },
      }),
    });
    expect(started.status).toBe(201);
    cancelledJob = started.body.id;
    await page.goto(`${t.url}/jobs/${cancelledJob}`);
    const status = () => page.locator('.title-row .status').textContent();
    await expect.poll(() => chartSteps(page), { timeout: 120_000 }).toBeGreaterThan(2);
    expect(await page.getByRole('button', { name: 'Resume' }).count()).toBe(0);

    // Pause: the trainer finishes its step and checkpoints; the page says PAUSED and offers Resume.
    await page.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(status, { timeout: 60_000 }).toBe('PAUSED');
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    expect(await page.getByRole('button', { name: 'Pause' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Cancel job' }).isEnabled()).toBe(true);
    const paused = await restJson<{ status: string; progress: { step: number } }>(t.url, key, `/api/training/${cancelledJob}`);
    expect(paused.body.status).toBe('PAUSED');
    const pausedAt = paused.body.progress.step;
    await page.locator('p.notice', { hasText: `Paused at step ${pausedAt},` }).waitFor();
    await expect.poll(() => chartSteps(page)).toBe(pausedAt);
    expect(await page.locator('ol.events').textContent()).toContain('PAUSED');

    // The jobs list shows it PAUSED too.
    await page.getByRole('link', { name: 'Jobs' }).click();
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: cancelledJob }) });
    await expect.poll(() => row.locator('.status').textContent()).toBe('PAUSED');
    await row.getByRole('link', { name: cancelledJob }).click();
    await page.waitForURL(new RegExp(`/jobs/${cancelledJob}$`));

    // Resume: queued again, it continues from the checkpoint; the chart grows on, every step once.
    await page.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(status, { timeout: 60_000 }).toMatch(/^(QUEUED|RUNNING)$/);
    await page.getByRole('button', { name: 'Pause' }).waitFor();
    await expect.poll(() => chartSteps(page), { timeout: 120_000 }).toBeGreaterThan(pausedAt + 1);
    await expect.poll(status, { timeout: 60_000 }).toBe('RUNNING');

    await page.getByRole('button', { name: 'Cancel job' }).click();
    await expect.poll(status, { timeout: 60_000 }).toBe('CANCELLED');
    for (const name of ['Cancel job', 'Pause', 'Resume']) await expect.poll(() => page.getByRole('button', { name }).count()).toBe(0);
    // Steps drawn = steps stored: the pause and resume lost or repeated none.
    const ended = await restJson<{ progress: { step: number } }>(t.url, key, `/api/training/${cancelledJob}`);
    await expect.poll(() => chartSteps(page)).toBe(ended.body.progress.step);
  });

  it('compares the two jobs on one chart', async () => {
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByLabel(`Compare ${finishedJob}`).check();
    await page.getByLabel(`Compare ${cancelledJob}`).check();
    await page.getByRole('button', { name: 'Compare selected (2)' }).click();
    await page.waitForURL(/\/compare\?jobs=/);
    const chart = page.getByRole('img', { name: /Loss comparison chart/ });
    await expect.poll(() => chart.getAttribute('aria-label')).toContain(`${finishedJob} (${finishedSteps} steps)`);
    expect(await chart.getAttribute('aria-label')).toMatch(new RegExp(`${cancelledJob} \\([1-9]\\d* steps\\)`));
  });

  it('deploys the fine-tuned model and streams an answer in the playground', async () => {
    await page.goto(`${t.url}/jobs/${finishedJob}`);
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page.waitForURL(/\/playground\?model=ft/);
    await page.locator('.deployment .status', { hasText: 'READY' }).waitFor({ timeout: 120_000 });
    const before = guarded.received.length;
    await page.getByLabel('Message').fill(PAIRS[0]![0]);
    await page.getByRole('button', { name: 'Send' }).click();
    const answer = page.locator('.turn.assistant');
    await answer.locator('.usage').waitFor({ timeout: 60_000 });
    expect(await answer.locator('.text').textContent()).toBe(PAIRS[0]![1]);
    expect(await answer.locator('.usage').textContent()).toMatch(/\d+ prompt \+ \d+ completion = \d+ tokens · \$/);
    // Streamed: the answer arrived as several subscription events, not one.
    const events = guarded.received.slice(before).filter((m) => m.type === 'next');
    expect(events.length).toBeGreaterThanOrEqual(2);
    await guarded.screenshot(page, `${engine}-playground.png`);
  });

  it('opens GraphiQL (local assets only) with the signed-in key and runs a query', async () => {
    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByRole('link', { name: 'Open GraphiQL' }).click();
    await page.waitForURL(/\/graphql/);
    await page.getByRole('button', { name: /Execute query/ }).click();
    await expect.poll(() => page.locator('.graphiql-response').textContent(), { timeout: 60_000 }).toContain(accountId);
    expect(await page.locator('.graphiql-response').textContent()).not.toContain('UNAUTHENTICATED');
    // Nothing the key could leak through: not the URL, not local storage.
    expect(page.url()).not.toContain(key);
    expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain(key);
  });

  it('signs out, and nothing outside loopback was requested and no page error happened', async () => {
    await page.goto(`${t.url}/account`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('tuneloop.apiKey'))).toBeNull();
    expect(guarded.blocked).toEqual([]);
    expect(guarded.errors).toEqual([]);
  });
});
