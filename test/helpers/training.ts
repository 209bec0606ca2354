import type { TestApp } from './app.js';
import { tinyModelFolder } from './models.js';
import { newId } from '../../src/ids.js';

/** A small Q&A set the tiny model can learn in a few dozen steps. */
export const QA: Array<[string, string]> = [
  ['What is the capital of France?', 'Paris.'],
  ['What color is the sky?', 'Blue.'],
  ['How many legs does a spider have?', 'Eight.'],
  ['What is 2+2?', '4.'],
  ['Who wrote Hamlet?', 'Shakespeare.'],
  ['What is H2O?', 'Water.'],
  ['What planet is red?', 'Mars.'],
  ['What is the largest ocean?', 'The Pacific.'],
  ['How many days are in a week?', 'Seven.'],
  ['What do bees make?', 'Honey.'],
  ['What is frozen water?', 'Ice.'],
  ['What animal barks?', 'A dog.'],
];

export function qaJsonl(pairs: Array<[string, string]> = QA): string {
  return `${pairs
    .map(([q, a]) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: q },
          { role: 'assistant', content: a },
        ],
      }),
    )
    .join('\n')}\n`;
}

/** Registers the tiny base model (real init-model output) as fine-tunable. */
export async function addTinyModel(t: TestApp, id = 'tiny', pricePerMTokMicros = 2_000_000n): Promise<string> {
  await t.app.services.catalog.importModel({ dir: await tinyModelFolder(), id, fineTunable: true, pricePerMTokMicros });
  return id;
}

/** Uploads JSONL over REST and waits until it is validated. */
export async function uploadDataset(url: string, apiKey: string, jsonl: string): Promise<{ id: string; status: string }> {
  const response = await fetch(`${url}/api/datasets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/jsonl' },
    body: jsonl,
  });
  if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${await response.text()}`);
  let dataset = (await response.json()) as { id: string; status: string };
  for (let i = 0; i < 200 && dataset.status === 'VALIDATING'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    dataset = (await (
      await fetch(`${url}/api/datasets/${dataset.id}`, { headers: { authorization: `Bearer ${apiKey}` } })
    ).json()) as typeof dataset;
  }
  return dataset;
}

/** Fast settings for the tiny model: a dozen steps, full fine-tuning with a high learning rate. */
export const FAST_HYPERPARAMETERS = { epochs: 2, batchSize: 1, learningRate: 0.003, maxSeqLength: 64, checkpointEvery: 4 };

export async function restJson<T = Record<string, unknown>>(
  url: string,
  apiKey: string,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${apiKey}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers ?? {}) },
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

/** Polls a job over REST until its status is one of `statuses`. */
export async function waitForJob(
  url: string,
  apiKey: string,
  jobId: string,
  statuses: string[],
  timeoutMs = 120_000,
): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await restJson<Record<string, any>>(url, apiKey, `/api/training/${jobId}`);
    if (statuses.includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A job written straight to the database, with its stored events (`seq` 1, 2, …): for
 * tests of what reads jobs (listings, subscriptions) that need no trainer.
 */
export async function insertJob(
  t: TestApp,
  accountId: string,
  opts: {
    baseModel: string;
    status: string;
    events: Array<{ type: string; step: number; status: string; payload: Record<string, unknown> }>;
  },
): Promise<string> {
  const id = newId('trainingJob');
  const terminal = ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(opts.status);
  await t.app.services.db
    .insertInto('training_jobs')
    .values({
      id,
      account_id: accountId,
      base_model_id: opts.baseModel,
      training_dataset_id: newId('dataset'),
      method: 'LORA',
      hyperparameters: JSON.stringify({}),
      requested: JSON.stringify({}),
      status: opts.status,
      event_seq: opts.events.length,
      queued_at: new Date(),
      ...(terminal ? { finished_at: new Date() } : {}),
    } as never)
    .execute();
  if (opts.events.length) {
    await t.app.services.db
      .insertInto('training_events')
      .values(opts.events.map((e, i) => ({ job_id: id, seq: i + 1, ...e, payload: JSON.stringify(e.payload) })) as never)
      .execute();
  }
  return id;
}
