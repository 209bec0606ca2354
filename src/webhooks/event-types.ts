import { InvalidInputError } from '../errors.js';

/**
 * Every event type a webhook can carry: the four status events of the public contract,
 * plus checkpoints, pauses and resumes for endpoints that ask for them (docs/webhooks.md).
 */
export const webhookEventTypes = [
  'training.started',
  'training.completed',
  'training.failed',
  'training.cancelled',
  'training.checkpoint',
  'training.paused',
  'training.resumed',
] as const;

export type WebhookEventType = (typeof webhookEventTypes)[number];

/**
 * What an endpoint receives when it names no events, and all a job's own `webhookUrl`
 * receives: the status changes that start and end a job. `training.checkpoint` can be
 * frequent, and `training.paused` / `training.resumed` are new to receivers written
 * against these four, so they are sent only to endpoints that ask for them.
 */
export const defaultEventTypes: readonly WebhookEventType[] = [
  'training.started',
  'training.completed',
  'training.failed',
  'training.cancelled',
];

export function isWebhookEventType(value: string): value is WebhookEventType {
  return (webhookEventTypes as readonly string[]).includes(value);
}

/** Validates and de-duplicates a list of event types; undefined/null = the defaults. */
export function parseEventTypes(events: readonly string[] | null | undefined, field = 'events'): WebhookEventType[] {
  if (events == null) return [...defaultEventTypes];
  if (events.length === 0)
    throw new InvalidInputError(field, `${field} must name at least one event type: ${webhookEventTypes.join(', ')}`);
  const out: WebhookEventType[] = [];
  for (const event of events) {
    if (!isWebhookEventType(event)) {
      throw new InvalidInputError(
        field,
        `unknown event type ${JSON.stringify(event)}; expected one of ${webhookEventTypes.join(', ')}`,
        'INVALID_EVENT_TYPE',
      );
    }
    if (!out.includes(event)) out.push(event);
  }
  return out;
}
