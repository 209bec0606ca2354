import type { Queryable } from '../db/connect.js';
import type { Runner, Roles } from '../runner.js';
import type { ServiceDeps } from '../service-deps.js';

/** A training outcome to announce (CONTRACT "Webhooks"). */
export interface WebhookEvent {
  type: 'training.started' | 'training.completed' | 'training.failed' | 'training.cancelled' | 'training.checkpoint';
  accountId: string;
  /** The body's `data` member: at least { jobId, status }. */
  data: Record<string, unknown>;
  /** The job's own `webhookUrl`, signed with the account's default secret. */
  jobWebhookUrl?: string | null;
  occurredAt?: Date;
}

export interface WebhooksService {
  /**
   * Writes the event to the outbox in the caller's transaction (the same one as the job's
   * status change), so a crash can never drop it.
   */
  enqueue(trx: Queryable, event: WebhookEvent): Promise<void>;
  runners(roles: Roles): Runner[];
  close(): Promise<void>;
}

/** Scaffolding until the webhooks work lands: accepts events and delivers nothing. */
export function createWebhooksService(_deps: ServiceDeps): WebhooksService {
  return {
    async enqueue() {},
    runners: () => [],
    async close() {},
  };
}
