import type { WebhookAttemptRow, WebhookDeliveryStatus, WebhookEndpointRow } from '../db/tables/webhooks.js';
import type { WebhookEventType } from './event-types.js';

/**
 * What the webhooks service hands to transports. Endpoints never carry their secrets: a
 * secret leaves the service only as the return value of create and rotate.
 */
export interface WebhookEndpoint {
  id: string;
  accountId: string;
  url: string;
  description: string;
  events: WebhookEventType[];
  /** `tuneloop` (our names and body) or `openai` (OpenAI's fine-tuning events). */
  format: 'tuneloop' | 'openai';
  enabled: boolean;
  /** `GONE` (it answered 410) or `DISABLED` (by its owner); null while enabled. */
  disabledReason: 'GONE' | 'DISABLED' | null;
  /** Until then the previous secret signs too (24 h after a rotation). */
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export type DeliveryStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

export interface WebhookAttempt {
  attempt: number;
  url: string;
  startedAt: Date;
  latencyMs: number;
  statusCode: number | null;
  error: string | null;
  responseSnippet: string | null;
}

/** One message to one target (an endpoint or a job's own URL) and its attempts. */
export interface WebhookDelivery {
  id: string;
  /** The `webhook-id` header: the same on every attempt. */
  messageId: string;
  eventType: string;
  jobId: string | null;
  /** null for a job's own `webhookUrl`. */
  endpointId: string | null;
  url: string;
  status: DeliveryStatus;
  attemptCount: number;
  maxAttempts: number;
  /** When the next attempt is due (pending deliveries only). */
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: Date | null;
  createdAt: Date;
  /** The exact body sent. */
  payload: string;
  attempts: WebhookAttempt[];
}

export interface Page<T> {
  items: T[];
  hasNextPage: boolean;
}

export function endpointView(row: WebhookEndpointRow): WebhookEndpoint {
  const expires = row.previous_secret_expires_at;
  return {
    id: row.id,
    accountId: row.account_id,
    url: row.url,
    description: row.description,
    events: row.events as WebhookEventType[],
    format: row.format === 'openai' ? 'openai' : 'tuneloop',
    enabled: row.enabled,
    disabledReason: row.disabled_reason === 'gone' ? 'GONE' : row.disabled_reason === 'disabled' ? 'DISABLED' : null,
    previousSecretExpiresAt: row.previous_secret && expires && expires.getTime() > Date.now() ? expires : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function statusView(status: WebhookDeliveryStatus): DeliveryStatus {
  return status.toUpperCase() as DeliveryStatus;
}

export function attemptView(row: WebhookAttemptRow): WebhookAttempt {
  return {
    attempt: row.attempt,
    url: row.url,
    startedAt: row.started_at,
    latencyMs: row.latency_ms,
    statusCode: row.status_code,
    error: row.error,
    responseSnippet: row.response_snippet,
  };
}
