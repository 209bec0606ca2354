/**
 * Webhook delivery throughput and latency. Prints figures; asserts nothing (goals and
 * recorded figures: docs/PERFORMANCE.md).
 *
 *   npx tsx bench/webhooks-throughput.ts [--events 3000] [--rate 100] [--seconds 8]
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/webhooks-throughput.ts
 *
 * The receiver runs in a child process (plain node:http, answers 200 "ok"), so it never
 * shares an event loop with the sender; it stamps each arrival with the wall clock and
 * the bench compares that with the instant the enqueuing transaction committed. Steps:
 *
 *   baseline  the same receiver driven by bare node:http POSTs (keep-alive agent, 32 in
 *             flight, no database, no signing): the ceiling for this machine
 *   drain     `--events` events enqueued while no sender runs, then one sender (the real
 *             delivery runner in a real app) started: deliveries/s until all arrived
 *   steady    events enqueued one transaction each at `--rate`/s for `--seconds`, while
 *             the sender runs: p50/p99/max from commit to arrival, and deliveries/s
 *
 * With DATABASE_URL it runs on that server (a fresh database is created and dropped),
 * otherwise on PGlite in a temporary folder.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import type { App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '3000' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '8' },
    receiver: { type: 'boolean', default: false },
  },
});

/** Child process: the receiver. Logs `id arrivalMs` per request; GET /log returns and clears it. */
function runReceiver(): void {
  let log: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.method === 'GET') {
      res.end(log.join('\n'));
      log = [];
      return;
    }
    req.on('data', () => {});
    req.on('end', () => {
      log.push(
        `${req.headers['webhook-id'] ?? '-'} ${req.headers['x-seq'] ?? ''} ${(performance.timeOrigin + performance.now()).toFixed(2)}`,
      );
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('disconnect', () => process.exit(0));
}

const now = () => performance.timeOrigin + performance.now();
let baseline = 1;

async function main(): Promise<void> {
  const events = Number(values.events);
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const child = fork(process.argv[1]!, ['--receiver'], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  const receiverUrl = `http://127.0.0.1:${port}`;
  const readLog = async () =>
    (await (await fetch(`${receiverUrl}/log`)).text())
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' '));

  console.log(
    `webhooks throughput — ${os.cpus().length} cores, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}, node ${process.version}`,
  );

  // Baseline: bare keep-alive POSTs, 32 in flight.
  {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const body = JSON.stringify({
      type: 'training.completed',
      timestamp: new Date().toISOString(),
      data: { jobId: 'ftjob_x', status: 'SUCCEEDED' },
    });
    let next = 0;
    const started = now();
    const worker = async () => {
      while (next < events) {
        next++;
        await new Promise<void>((resolve, reject) => {
          const req = http.request(`${receiverUrl}/`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
            res.resume();
            res.on('end', resolve);
          });
          req.on('error', reject);
          req.end(body);
        });
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    const elapsed = (now() - started) / 1000;
    agent.destroy();
    await readLog();
    baseline = events / elapsed;
    console.log(`baseline  ${events} bare POSTs in ${elapsed.toFixed(2)} s: ${baseline.toFixed(0)} req/s`);
  }

  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tuneloop-bench-webhooks-'));
  const database = process.env.DATABASE_URL ? await createDatabase(process.env.DATABASE_URL) : undefined;
  const config = loadConfig(
    { dataDir, databaseUrl: database?.url, host: '127.0.0.1', port: 0, logLevel: 'warn', webhookAllowPrivate: true },
    {},
  );
  let app: App | undefined;
  try {
    app = await buildApp({ config, api: true, worker: false, log: createLogger('warn') });
    const { services } = app;
    const { account } = await services.accounts.createAccount({ name: 'bench' });
    await services.webhooks.createEndpoint(account.id, { url: `${receiverUrl}/hooks` });
    const enqueue = (jobId: string) =>
      services.db
        .transaction()
        .execute((trx) =>
          services.webhooks.enqueue(trx, { type: 'training.completed', accountId: account.id, data: { jobId, status: 'SUCCEEDED' } }),
        )
        .then(now);

    // Drain: a backlog, then the sender starts.
    const enqueueStarted = now();
    for (let i = 0; i < events; i++) await enqueue(`ftjob_bench_d${i}`);
    const enqueueRate = events / ((now() - enqueueStarted) / 1000);
    const started = now();
    const cpuBefore = process.cpuUsage();
    await app.start();
    let arrived = 0;
    let last = started;
    while (arrived < events) {
      await new Promise((r) => setTimeout(r, 100));
      const lines = await readLog();
      arrived += lines.length;
      for (const l of lines) last = Math.max(last, Number(l[2]));
      if (now() - started > 120_000) break;
    }
    const drainRate = arrived / ((last - started) / 1000);
    const cpu = process.cpuUsage(cpuBefore);
    const cpuMsPerDelivery = (cpu.user + cpu.system) / 1000 / arrived;
    console.log(
      `enqueue   ${events} events, one transaction each: ${enqueueRate.toFixed(0)} events/s (${config.databaseUrl ? 'postgres' : 'pglite'})`,
    );
    console.log(
      `drain     ${arrived}/${events} delivered in ${((last - started) / 1000).toFixed(2)} s: ${drainRate.toFixed(0)} deliveries/s (${(drainRate / baseline).toFixed(2)}× baseline)`,
    );
    console.log(
      `          sender process CPU ${cpuMsPerDelivery.toFixed(2)} ms/delivery (${config.databaseUrl ? 'database server not counted' : 'PGlite included'}): ` +
        `${(1000 / cpuMsPerDelivery).toFixed(0)} deliveries/s per core it gets`,
    );

    // Steady: a paced stream of status changes while the sender runs.
    const committed = new Map<string, number>();
    const total = Math.round(rate * seconds);
    const steadyStarted = now();
    for (let i = 0; i < total; i++) {
      const due = steadyStarted + (i * 1000) / rate;
      const wait = due - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      committed.set(`ftjob_bench_s${i}`, await enqueue(`ftjob_bench_s${i}`));
    }
    const offered = total / ((now() - steadyStarted) / 1000);
    const latencies: number[] = [];
    const waitUntil = now() + 60_000;
    const arrivals: string[][] = [];
    while (arrivals.length < total && now() < waitUntil) {
      await new Promise((r) => setTimeout(r, 100));
      arrivals.push(...(await readLog()));
    }
    // Map webhook-id → job id through the outbox (the receiver saw ids, the bench saw jobs).
    const rows = await services.db
      .selectFrom('webhook_messages')
      .select(['id', 'job_id'])
      .where('id', 'in', arrivals.map((a) => a[0]!).length ? arrivals.map((a) => a[0]!) : ['-'])
      .execute();
    const jobOf = new Map(rows.map((r) => [r.id, r.job_id ?? '']));
    let lastArrival = steadyStarted;
    for (const [id, , at] of arrivals) {
      const commit = committed.get(jobOf.get(id!) ?? '');
      if (commit !== undefined) latencies.push(Number(at) - commit);
      lastArrival = Math.max(lastArrival, Number(at));
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
    console.log(
      `steady    ${latencies.length}/${total} delivered at ${offered.toFixed(0)} events/s offered: ` +
        `commit→arrival p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${(latencies.at(-1) ?? NaN).toFixed(1)} ms; ` +
        `${(latencies.length / ((lastArrival - steadyStarted) / 1000)).toFixed(0)} deliveries/s`,
    );
  } finally {
    await app?.stop();
    await database?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
    child.disconnect();
  }
}

async function createDatabase(serverUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tl_bench_webhooks_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists "${name}"`);
  await admin.query(`create database "${name}"`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists "${name}" with (force)`);
      await c.end();
    },
  };
}

if (values.receiver) runReceiver();
else await main();
