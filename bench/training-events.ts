/**
 * Live training events at scale. Prints figures; asserts nothing (recorded figures:
 * docs/PERFORMANCE.md).
 *
 * 1. Fan-out: N graphql-ws subscribers (default 1000) on one running job whose "trainer"
 *    emits steps at a steady rate; latency from the trainer writing an event to each client
 *    receiving it (p50/p99), and the api process's CPU meanwhile.
 * 2. Ingestion: a job whose "trainer" emits steps as fast as it can; steps/s the worker
 *    stores, and how far behind the last one is.
 *
 * The "trainer" is bench/fixtures/firehose_trainer.py: protocol events only, no training, so
 * the numbers are the platform's (validation, storage, NOTIFY, fan-out).
 *
 *   npx tsx bench/training-events.ts [--subscribers 1000] [--rate 5] [--steps 300] [--burst 3000]
 *
 * --rate is steps per second of the watched job (a real trainer emits ~0.5–10); at
 * 1,000 subscribers each step is 1,000 deliveries, so 20/s asks for 20,000 a second.
 *   DATABASE_URL=postgres://… npx tsx bench/training-events.ts   # on a PostgreSQL server
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { runCli, spawnTuneloop } from '../src/dev/tuneloop-process.js';
import { tinyModelFolder } from '../src/dev/tiny-model-folder.js';
import { qaJsonl } from '../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../src/dev/rest-client.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '5' },
    steps: { type: 'string', default: '300' },
    burst: { type: 'string', default: '3000' },
  },
});
const SUBSCRIBERS = Number(values.subscribers);
const RATE = Number(values.rate);
const STEPS = Number(values.steps);
const BURST = Number(values.burst);
const FIREHOSE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'firehose-python.sh');

function cpuSeconds(pid: number): Promise<number> {
  return fs.readFile(`/proc/${pid}/stat`, 'utf8').then((s) => {
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ = 100 on Linux)
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function main() {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tuneloop-bench-'));
  const env: NodeJS.ProcessEnv = { TUNELOOP_DATA_DIR: dataDir, TUNELOOP_PYTHON: FIREHOSE, LOG_LEVEL: 'warn' };
  if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
  await runCli(['models', 'import', await tinyModelFolder(), '--id', 'tiny', '--fine-tunable'], env);
  const { apiKey } = JSON.parse(await runCli(['accounts', 'create', '--name', 'bench', '--balance', '1000'], env)) as { apiKey: string };
  const api = spawnTuneloop(['start'], {
    ...env,
    LOG_LEVEL: 'info',
    FIREHOSE_STEPS: String(STEPS),
    FIREHOSE_RATE: String(RATE),
    FIREHOSE_DELAY: String(5 + SUBSCRIBERS / 200),
  });
  await api.waitForLog((l) => l.msg === 'tuneloop api listening');
  const url = api.url!;
  const dataset = await uploadDataset(url, apiKey, qaJsonl());
  const startJob = async () =>
    (
      await restJson<{ id: string }>(url, apiKey, '/api/fine-tune/training/start', {
        method: 'POST',
        body: JSON.stringify({ baseModel: 'tiny', trainingDataset: dataset.id, hyperparameters: { epochs: 1 } }),
      })
    ).body.id;

  // ---- 1. fan-out latency
  const jobId = await startJob();
  const latencies: number[] = [];
  let completed = 0;
  // Every client records when each step reached it; latencies are computed afterwards
  // against the trainer's time stored with each step (the payload carries none).
  const arrivals = new Map<number, number[]>();
  const clients = Array.from({ length: SUBSCRIBERS }, () =>
    createClient({
      url: `${url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${apiKey}` },
      retryAttempts: 0,
    }),
  );
  const query = 'subscription($jobId: ID!) { trainingProgress(jobId: $jobId) { kind step status loss } }';
  const done = Promise.all(
    clients.map(
      (client) =>
        new Promise<void>((resolve) => {
          client.subscribe<{ trainingProgress: { kind: string; step: number } }>(
            { query, variables: { jobId } },
            {
              next: ({ data }) => {
                const e = data?.trainingProgress;
                if (e?.kind !== 'STEP') return;
                let list = arrivals.get(e.step);
                if (!list) arrivals.set(e.step, (list = []));
                list.push(Date.now() / 1000);
              },
              error: () => resolve(),
              complete: () => {
                completed++;
                resolve();
              },
            },
          );
        }),
    ),
  );
  const cpu0 = await cpuSeconds(api.child.pid!);
  const t0 = Date.now();
  await done;
  const wall = (Date.now() - t0) / 1000;
  const cpu1 = await cpuSeconds(api.child.pid!);
  const page = await restJson<{ data: Array<{ type: string; step: number; trainerTime?: number }> }>(
    url,
    apiKey,
    `/api/training/${jobId}/events?limit=1000`,
  );
  for (const e of page.body.data) {
    if (e.type !== 'step' || !e.trainerTime) continue;
    for (const at of arrivals.get(e.step) ?? []) latencies.push((at - e.trainerTime) * 1000);
  }
  await Promise.all(clients.map((c) => c.dispose()));
  console.log(`fan-out: ${SUBSCRIBERS} subscribers, ${STEPS} steps at ${RATE}/s, ${completed} streams completed`);
  console.log(
    `  trainer → client latency: p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms (target p99 < 50 ms)`,
  );
  console.log(`  api+worker CPU: ${(((cpu1 - cpu0) / wall) * 100).toFixed(0)} % of one core over ${wall.toFixed(1)} s`);

  // ---- 2. ingestion rate
  api.kill('SIGTERM');
  await api.exited;
  const burst = spawnTuneloop(['start'], { ...env, LOG_LEVEL: 'info', FIREHOSE_STEPS: String(BURST), FIREHOSE_RATE: '0' });
  await burst.waitForLog((l) => l.msg === 'tuneloop api listening');
  const burstJob = await (async () => {
    const r = await restJson<{ id: string }>(burst.url!, apiKey, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({ baseModel: 'tiny', trainingDataset: dataset.id, hyperparameters: { epochs: 1 } }),
    });
    return r.body.id;
  })();
  await waitForJob(burst.url!, apiKey, burstJob, ['SUCCEEDED', 'FAILED'], 600_000);
  const all: Array<{ type: string; trainerTime?: number; createdAt: string }> = [];
  for (let after = ''; ; ) {
    const p = await restJson<{
      data: Array<{ type: string; sequence: number; trainerTime?: number; createdAt: string }>;
      hasMore: boolean;
      nextCursor: string;
    }>(burst.url!, apiKey, `/api/training/${burstJob}/events?limit=1000${after ? `&after=${after}` : ''}`);
    all.push(...p.body.data);
    if (!p.body.hasMore) break;
    after = p.body.nextCursor;
  }
  const steps = all.filter((e) => e.type === 'step');
  const first = steps[0]!;
  const last = steps.at(-1)!;
  const storedSpan = (Date.parse(last.createdAt) - Date.parse(first.createdAt)) / 1000;
  const emittedSpan = last.trainerTime! - first.trainerTime!;
  console.log(
    `ingestion: ${steps.length} steps emitted in ${emittedSpan.toFixed(2)} s (${(steps.length / emittedSpan).toFixed(0)}/s offered)`,
  );
  console.log(
    `  stored at ${(steps.length / Math.max(storedSpan, 1e-3)).toFixed(0)} steps/s; the last one ${((Date.parse(last.createdAt) / 1000 - last.trainerTime!) * 1000).toFixed(0)} ms after it was emitted (target ≥ 200 steps/s)`,
  );
  burst.kill('SIGTERM');
  await burst.exited;
  await fs.rm(dataDir, { recursive: true, force: true });
}

await main();
