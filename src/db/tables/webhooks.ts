import type { Generated, Selectable } from 'kysely';
import type { CreatedAt, Timestamp } from '../schema.js';

/** Tables owned by the webhooks domain (migrations/0005-webhooks.ts holds their SQL). */
export interface WebhookTables {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_messages: WebhookMessagesTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
}

export interface WebhookEndpointsTable {
  id: string;
  account_id: string;
  url: string;
  description: Generated<string>;
  /** Event types this endpoint receives, e.g. `{training.completed,training.failed}`. */
  events: string[];
  /** `tuneloop` or `openai`: the body and event names it receives (migrations/0016). */
  format: Generated<string>;
  enabled: Generated<boolean>;
  /** Why it stopped receiving: `gone` (answered 410) or `disabled` (by its owner). */
  disabled_reason: string | null;
  secret: string;
  /** The secret before the last rotation; still signs until `previous_secret_expires_at`. */
  previous_secret: string | null;
  previous_secret_expires_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Generated<Date>;
}

export interface WebhookMessagesTable {
  /** `msg_…`: the `webhook-id` header, the same on every attempt and every target. */
  id: string;
  account_id: string;
  event_type: string;
  job_id: string | null;
  /** The exact body that is signed and sent. */
  payload: string;
  created_at: CreatedAt;
}

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface WebhookDeliveriesTable {
  id: string;
  message_id: string;
  account_id: string;
  /** The endpoint, or null for a job's own `webhookUrl` (then `url` is set). */
  endpoint_id: string | null;
  url: string | null;
  status: Generated<WebhookDeliveryStatus>;
  /** Attempts made (bumped when an attempt is claimed). */
  attempts: Generated<number>;
  max_attempts: number;
  next_attempt_at: Generated<Date>;
  lease_owner: string | null;
  lease_expires_at: Timestamp | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Generated<Date>;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  url: string;
  started_at: Timestamp;
  latency_ms: number;
  status_code: number | null;
  error: string | null;
  response_snippet: string | null;
}

export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookMessageRow = Selectable<WebhookMessagesTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
