import { InvalidInputError } from '../errors.js';

/** Every event type a webhook can carry (docs/webhooks.md: the public ones, plus checkpoints on request). */
export const webhookEventTypes = [
  'training.started',
  'training.completed',
  'training.failed',
  'training.cancelled',
  'training.checkpoint',
] as const;

export type WebhookEventType = (typeof webhookEventTypes)[number];

/**
 * What an endpoint receives when it names no events, and all a job's own `webhookUrl`
 * receives: the status changes. `training.checkpoint` can be frequent, so it is sent only
 * to endpoints that ask for it.
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
