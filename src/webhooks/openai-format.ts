import { InvalidInputError } from '../errors.js';
import type { WebhookEventType } from './event-types.js';

/**
 * OpenAI's webhook shape, for endpoints created with `format: "openai"`
 * (docs/webhooks.md § OpenAI format): the body `{id, object: "event", created_at, type,
 * data: {id: <job id>}}` under OpenAI's event names, signed exactly like our own
 * (Standard Webhooks), so `client.webhooks.unwrap()` of the `openai` SDK verifies and
 * parses it. The stored message stays in our shape; the body is derived from it at
 * delivery, the same on every attempt.
 */
export type WebhookFormat = 'tuneloop' | 'openai';

export const webhookFormats: readonly WebhookFormat[] = ['tuneloop', 'openai'];

/** Our event types that have an OpenAI name; an `openai` endpoint receives only these. */
export const OPENAI_EVENT_NAMES: Partial<Record<WebhookEventType, string>> = {
  'training.completed': 'fine_tuning.job.succeeded',
  'training.failed': 'fine_tuning.job.failed',
  'training.cancelled': 'fine_tuning.job.cancelled',
};

export const openAiEventTypes = Object.keys(OPENAI_EVENT_NAMES) as WebhookEventType[];

export function parseWebhookFormat(value: string | null | undefined, field = 'format'): WebhookFormat {
  if (value == null) return 'tuneloop';
  const format = value.toLowerCase();
  if (!(webhookFormats as readonly string[]).includes(format)) {
    throw new InvalidInputError(field, `unknown webhook format ${JSON.stringify(value)}; expected tuneloop or openai`);
  }
  return format as WebhookFormat;
}

/** The events an endpoint of `format` receives: OpenAI's format has names for the three end states only. */
export function checkEventsForFormat(format: WebhookFormat, events: readonly WebhookEventType[], field = 'events'): void {
  if (format !== 'openai') return;
  const unnamed = events.filter((e) => !OPENAI_EVENT_NAMES[e]);
  if (unnamed.length > 0) {
    throw new InvalidInputError(
      field,
      `an endpoint in OpenAI's format receives only ${openAiEventTypes.join(', ')} (sent as ${Object.values(OPENAI_EVENT_NAMES).join(', ')}); ${unnamed.join(', ')} has no OpenAI name`,
      'INVALID_EVENT_TYPE',
    );
  }
}

/** The body an `openai` endpoint receives for a stored message (`{type, timestamp, data}`). */
export function openAiWebhookBody(messageId: string, storedPayload: string): string {
  const message = JSON.parse(storedPayload) as { type: WebhookEventType; timestamp: string; data: { jobId?: unknown } };
  return JSON.stringify({
    id: messageId,
    object: 'event',
    created_at: Math.floor(new Date(message.timestamp).getTime() / 1000),
    type: OPENAI_EVENT_NAMES[message.type] ?? message.type,
    data: { id: message.data.jobId },
  });
}
