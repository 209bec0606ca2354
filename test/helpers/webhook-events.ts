import type { TestApp } from './app.js';
import type { WebhookEvent } from '../../src/webhooks/service.js';

let jobs = 0;

/** A job id for events (real training jobs use `ftjob_…` ids too). */
export function fakeJobId(): string {
  return `ftjob_test${String(++jobs).padStart(4, '0')}${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * Announces a training event the way the training lifecycle does: `enqueue` inside a
 * transaction (the job's status change would be written in the same one).
 */
export async function emit(
  t: TestApp,
  accountId: string,
  type: WebhookEvent['type'],
  data: Record<string, unknown>,
  jobWebhookUrl?: string,
): Promise<void> {
  const { db, webhooks } = t.app.services;
  await db.transaction().execute((trx) => webhooks.enqueue(trx, { type, accountId, data, jobWebhookUrl: jobWebhookUrl ?? null }));
}

/** Authenticated JSON request to the REST API. */
export async function rest(
  t: TestApp,
  apiKey: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any; contentType: string | null }> {
  const response = await fetch(`${t.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null, contentType: response.headers.get('content-type') };
}
