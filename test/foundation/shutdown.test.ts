import fs from 'node:fs/promises';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/app.js';
import { migratedDataDir } from '../helpers/data-dir.js';
import { createTestDatabase, engines } from '../helpers/db.js';
import { readSse, wsClient, wsCollect } from '../helpers/clients.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { newId } from '../../src/ids.js';
import { listeningUrl, startServerProcess } from '../helpers/cli.js';
import type { ServerProcess } from '../helpers/cli.js';

/**
 * Graceful shutdown of a real `tuneloop serve` process (SIGTERM) while clients hold
 * long-lived streams — a `trainingProgress` subscription over graphql-ws and over SSE — and
 * one ordinary request is half-sent: the process exits 0 within 10 s, the streams end, and
 * the in-flight request is answered in full.
 */

const PROGRESS = 'subscription ($jobId: ID!) { trainingProgress(jobId: $jobId) { jobId status step } }';

interface Seeded {
  apiKey: string;
  jobId: string;
}

/**
 * An account and a queued job with one stored status event, written before the server
 * starts (the embedded database has one process at a time). `serve` runs no worker, so the
 * job stays queued and its subscription stays open after replaying that event.
 */
async function seed(dataDir: string, databaseUrl: string | undefined): Promise<Seeded> {
  const config = loadConfig({ dataDir, databaseUrl, logLevel: 'silent' }, {});
  const app = await buildApp({ config, api: false, worker: false, log: createLogger('silent') });
  try {
    const { account, apiKey } = await app.services.accounts.createAccount({ name: 'shutdown', initialBalanceMicros: 10_000_000n });
    await app.services.catalog.importModel({ dir: await tinyModelFolder(), id: 'tiny-shutdown', fineTunable: true });
    const jobId = newId('trainingJob');
    const db = app.services.db;
    await db
      .insertInto('training_jobs')
      .values({
        id: jobId,
        account_id: account.id,
        base_model_id: 'tiny-shutdown',
        training_dataset_id: newId('dataset'),
        method: 'LORA',
        hyperparameters: JSON.stringify({}),
        requested: JSON.stringify({}),
        status: 'QUEUED',
        event_seq: 1,
        queued_at: new Date(),
      } as never)
      .execute();
    await db
      .insertInto('training_events')
      .values({ job_id: jobId, seq: 1, type: 'status', step: 0, status: 'QUEUED', payload: JSON.stringify({ status: 'QUEUED' }) } as never)
      .execute();
    return { apiKey, jobId };
  } finally {
    await app.stop();
  }
}

/** Sends a GraphQL POST whose body arrives in two parts; `finish()` sends the rest. */
function halfSentRequest(url: string, apiKey: string, query: string) {
  const body = Buffer.from(JSON.stringify({ query }));
  const split = Math.floor(body.length / 2);
  let finish!: () => void;
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = http.request(
      `${url}/graphql`,
      { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    request.on('error', reject);
    request.write(body.subarray(0, split));
    finish = () => request.end(body.subarray(split));
  });
  // Awaited after SIGTERM: mark it handled now so a failure is reported there, once.
  response.catch(() => {});
  return { response, finish: () => finish() };
}

describe.each(engines())('graceful shutdown of `tuneloop serve` (%s)', (engine) => {
  let dataDir: string;
  let database: { url: string; drop: () => Promise<void> } | undefined;
  let seeded: Seeded;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    dataDir = engine === 'pglite' ? await migratedDataDir('tuneloop-shutdown-') : await makeTempDir('tuneloop-shutdown-');
    database = engine === 'postgres' ? await createTestDatabase('shutdown') : undefined;
    seeded = await seed(dataDir, database?.url);
  });
  afterAll(async () => {
    await server?.kill();
    await database?.drop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('SIGTERM with an open subscription (graphql-ws and SSE) and a request in flight: streams end, the request completes, exit 0 within 10 s', async () => {
    server = startServerProcess(['serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
      env: database ? { DATABASE_URL: database.url } : {},
    });
    const url = await listeningUrl(server);

    // 1. trainingProgress over graphql-ws: replays the stored event, then stays open.
    const client = wsClient(url, seeded.apiKey);
    let wsFirst!: () => void;
    const wsReplayed = new Promise<void>((resolve) => (wsFirst = resolve));
    const wsEnded = wsCollect<{ trainingProgress: { status: string } }>(client, PROGRESS, { jobId: seeded.jobId }, () => wsFirst()).then(
      (results) => ({ how: 'completed', results }),
      (error: unknown) => ({ how: 'closed', error }),
    );

    // 2. The same subscription over SSE.
    const sseResponse = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${seeded.apiKey}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: PROGRESS, variables: { jobId: seeded.jobId } }),
    });
    expect(sseResponse.status).toBe(200);
    let sseFirst!: () => void;
    const sseReplayed = new Promise<void>((resolve) => (sseFirst = resolve));
    const sseEnded = readSse(sseResponse, (event) => {
      if (event.event === 'next') sseFirst();
      return false;
    }).then(
      (events) => ({ how: 'ended', events }),
      (error: unknown) => ({ how: 'cut', error }),
    );

    await Promise.all([wsReplayed, sseReplayed]);

    // 3. An ordinary request, headers and half its body sent.
    const inFlight = halfSentRequest(url, seeded.apiKey, '{ fineTunableModels { id } }');
    await new Promise((r) => setTimeout(r, 300));

    const signalled = Date.now();
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    inFlight.finish();

    const answered = await inFlight.response;
    expect(answered.status).toBe(200);
    expect(JSON.parse(answered.body)).toEqual({ data: { fineTunableModels: [{ id: 'tiny-shutdown' }] } });

    const exit = await server.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - signalled).toBeLessThan(10_000);
    expect(server.logs.some((l) => l.msg === 'tuneloop stopped')).toBe(true);

    // Both streams ended with the process: nothing is left hanging on the client.
    const [ws, sse] = await Promise.all([wsEnded, sseEnded]);
    expect(['completed', 'closed']).toContain(ws.how);
    expect(['ended', 'cut']).toContain(sse.how);
    await client.dispose();

    // The port is closed.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  // SIGTERM with a job RUNNING (trainer checkpoints, job handed back): test/training/multiprocess.test.ts.
});
