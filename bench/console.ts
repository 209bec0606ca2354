/**
 * The web console in a real browser (Debian's chromium through playwright-core). Prints
 * figures; asserts nothing.
 *
 * 1. Live latency: a real job (tiny model, real trainer) watched on its console page. For
 *    each step: the time from its commit (the stored event's transaction timestamp) to the
 *    chart's redraw that includes it (the chart's `tuneloop:chart-drawn` event), p50/p99.
 *    Baseline, same steps, same run: a graphql-ws client in Node receiving the same
 *    `trainingProgress` subscription — the ratio is what the browser, React and the chart add.
 * 2. First render of a stored 100,000-step job: navigation start → the chart drawn with
 *    every step (one `lossCurve` query, downsampled drawing). Baseline: the same page for
 *    the live job above (a few hundred steps). Also the `lossCurve` query alone.
 *
 *   npx tsx bench/console.ts [--epochs 20] [--big-steps 100000]
 *   DATABASE_URL=postgres://… npx tsx bench/console.ts   # on a PostgreSQL server
 */
import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { Page } from 'playwright-core';
import { startLocalApp } from '../src/dev/local-app.js';
import { tinyModelFolder } from '../src/dev/tiny-model-folder.js';
import { qaJsonl } from '../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../src/dev/rest-client.js';
import { GuardedContext, ensureConsoleBuilt, launchBrowser } from '../src/dev/browser.js';
import { appendJobEvents } from '../src/training/job-events.js';
import type { NewTrainingEvent } from '../src/training/job-events.js';
import { newId } from '../src/ids.js';

const { values } = parseArgs({
  options: { epochs: { type: 'string', default: '20' }, 'big-steps': { type: 'string', default: '100000' } },
});
const EPOCHS = Number(values.epochs);
const BIG = Number(values['big-steps']);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

/** Records every chart redraw (wall-clock time, last step drawn) in the page. */
const RECORD_DRAWS = () => {
  const w = window as unknown as { __draws: Array<{ at: number; lastStep: number; points: number }> };
  w.__draws = [];
  document.addEventListener(
    'tuneloop:chart-drawn',
    (e) => {
      const detail = (e as CustomEvent<{ lastStep: number; points: number }>).detail;
      w.__draws.push({ at: performance.timeOrigin + performance.now(), ...detail });
    },
    true,
  );
};

async function draws(page: Page): Promise<Array<{ at: number; lastStep: number; points: number }>> {
  return page.evaluate(() => (window as unknown as { __draws: Array<{ at: number; lastStep: number; points: number }> }).__draws);
}

async function main() {
  ensureConsoleBuilt();
  const t = await startLocalApp({ worker: true, databaseUrl: process.env.DATABASE_URL || undefined });
  const browser = await launchBrowser();
  try {
    const { apiKey } = await t.account('bench', 1_000_000_000n);
    await t.app.services.catalog.importModel({
      dir: await tinyModelFolder(),
      id: 'tiny',
      fineTunable: true,
      pricePerMTokMicros: 2_000_000n,
    });
    const dataset = await uploadDataset(t.url, apiKey, qaJsonl());
    const guarded = await GuardedContext.create(browser);
    await guarded.context.addInitScript((key) => sessionStorage.setItem('tuneloop.apiKey', key), apiKey);
    await guarded.context.addInitScript(RECORD_DRAWS);
    const page = await guarded.newPage();

    // 1. Live latency.
    const started = await restJson<{ id: string }>(t.url, apiKey, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: dataset.id,
        method: 'FULL',
        hyperparameters: { epochs: EPOCHS, batchSize: 1, maxSeqLength: 64, checkpointEvery: 1000 },
      }),
    });
    const jobId = started.body.id;
    const nodeReceived = new Map<number, number>();
    const ws = createClient({
      url: `${t.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${apiKey}` },
    });
    const nodeDone = new Promise<void>((resolve, reject) => {
      ws.subscribe<{ trainingProgress: { kind: string; step: number } }>(
        { query: `subscription($id: ID!) { trainingProgress(jobId: $id) { kind step } }`, variables: { id: jobId } },
        {
          next: ({ data }) => {
            if (data?.trainingProgress.kind === 'STEP' && !nodeReceived.has(data.trainingProgress.step)) {
              nodeReceived.set(data.trainingProgress.step, Date.now());
            }
          },
          error: reject,
          complete: resolve,
        },
      );
    });
    await page.goto(`${t.url}/jobs/${jobId}`);
    const job = await waitForJob(t.url, apiKey, jobId, ['SUCCEEDED', 'FAILED'], 900_000);
    await nodeDone;
    await ws.dispose();
    await page.waitForFunction(
      (total) => (window as unknown as { __draws: Array<{ lastStep: number }> }).__draws.some((d) => d.lastStep >= total),
      job.progress.totalSteps,
    );
    const committed = await t.app.services.db
      .selectFrom('training_events')
      .select(['step', 'created_at'])
      .where('job_id', '=', jobId)
      .where('type', '=', 'step')
      .orderBy('step')
      .execute();
    const drawn = await draws(page);
    const chart: number[] = [];
    const node: number[] = [];
    for (const { step, created_at } of committed) {
      const at = new Date(created_at).getTime();
      const draw = drawn.find((d) => d.lastStep >= step);
      const received = nodeReceived.get(step);
      if (draw && received) {
        chart.push(draw.at - at);
        node.push(received - at);
      }
    }
    console.log(`live job: ${committed.length} steps (${job.status}), ${drawn.length} chart redraws`);
    console.log(
      `  commit → point on the chart: p50 ${ms(pct(chart, 50))}, p99 ${ms(pct(chart, 99))}  |  commit → Node graphql-ws client (baseline): p50 ${ms(pct(node, 50))}, p99 ${ms(pct(node, 99))}`,
    );
    console.log(
      `  ratio to the baseline: p50 ${(pct(chart, 50) / pct(node, 50)).toFixed(2)}×, p99 ${(pct(chart, 99) / pct(node, 99)).toFixed(2)}×`,
    );

    // 2. First render of a stored job of BIG steps (synthetic curve: a decaying loss with noise).
    const bigId = newId('trainingJob');
    const source = await t.app.services.db.selectFrom('training_jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
    await t.app.services.db
      .insertInto('training_jobs')
      .values({
        ...source,
        id: bigId,
        idempotency_key: null,
        reservation_id: null,
        fine_tuned_model_id: null,
        step: BIG,
        total_steps: BIG,
        event_seq: 0,
        hyperparameters: JSON.stringify(source.hyperparameters),
        requested: JSON.stringify(source.requested),
        reward_metrics: source.reward_metrics === null ? null : JSON.stringify(source.reward_metrics),
        metadata: JSON.stringify(source.metadata),
      })
      .execute();
    const insertStart = performance.now();
    let seed = 1;
    const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2;
    for (let from = 1; from <= BIG; from += 5_000) {
      const batch: NewTrainingEvent[] = [];
      for (let step = from; step < from + 5_000 && step <= BIG; step++) {
        batch.push({
          type: 'step',
          step,
          status: 'RUNNING',
          payload: {
            jobId: bigId,
            step,
            totalSteps: BIG,
            epoch: (10 * step) / BIG,
            loss: 0.3 + 6 * Math.exp(-step / 8000) + noise(),
            learningRate: 3e-4 * (1 - step / BIG),
          },
        });
      }
      await t.app.services.db.transaction().execute((trx) => appendJobEvents(trx, bigId, batch));
    }
    console.log(`stored a ${BIG.toLocaleString()}-step job in ${((performance.now() - insertStart) / 1000).toFixed(1)} s`);

    const query = `query($id: ID!) { trainingJob(id: $id) { lossCurve { steps loss learningRate epoch evalSteps evalLoss } } }`;
    const curveTimes: number[] = [];
    let curveBytes = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const response = await fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables: { id: bigId } }),
      });
      curveBytes = (await response.text()).length;
      curveTimes.push(performance.now() - t0);
    }
    console.log(`  lossCurve query alone (Node fetch): median ${ms(pct(curveTimes, 50))}, ${(curveBytes / 1e6).toFixed(1)} MB of JSON`);

    const firstRender = async (id: string, steps: number) => {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        await page.goto(`${t.url}/jobs/${id}`);
        await page.waitForFunction(
          (n) => (window as unknown as { __draws: Array<{ lastStep: number }> }).__draws.some((d) => d.lastStep >= n),
          steps,
          { timeout: 120_000 },
        );
        const draw = (await draws(page)).find((d) => d.lastStep >= steps)!;
        times.push(draw.at - (await page.evaluate(() => performance.timeOrigin)));
      }
      return pct(times, 50);
    };
    const small = await firstRender(jobId, committed.length);
    const big = await firstRender(bigId, BIG);
    const points = (await draws(page)).at(-1)?.points ?? 0;
    console.log(
      `  job page, navigation → chart drawn: ${BIG.toLocaleString()} steps ${ms(big)} (${points} points drawn)  |  ${committed.length} steps (baseline) ${ms(small)}  |  ratio ${(big / small).toFixed(2)}×`,
    );
    if (guarded.errors.length || guarded.blocked.length) console.log('page errors / blocked requests:', guarded.errors, guarded.blocked);
    await guarded.close();
  } finally {
    await browser.close();
    await t.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
