import type { Db } from '../db/connect.js';
import { channels } from '../db/notifier.js';
import type { Notifier } from '../db/notifier.js';
import type { Logger } from '../log.js';
import type { Runner } from '../runner.js';
import { claimDeliveries } from './claim-deliveries.js';
import type { ClaimedDelivery } from './claim-deliveries.js';
import { disableEndpoint, failUnsent, recordAttempts, releaseLease } from './record-attempt.js';
import type { AttemptRecord } from './record-attempt.js';
import { openAiWebhookBody } from './openai-format.js';
import { pruneMessages } from './prune-messages.js';
import { retryDelayMs } from './retry-schedule.js';
import { signatureHeader } from './signing.js';
import type { WebhookSender } from './webhook-sender.js';

export interface DeliveryRunnerOptions {
  db: Db;
  notifier: Notifier;
  log: Logger;
  sender: WebhookSender;
  /** Identifies this process's leases. */
  owner: string;
  retryFactor: number;
  /** Longer than the request timeout, so a live sender never loses its lease mid-attempt. */
  leaseSeconds: number;
  /** Attempts in flight at once in this process. */
  concurrency: number;
  /** Attempts in flight at once for one endpoint in this process. */
  perEndpoint: number;
  /** Longest sleep between looks at the queue (finds leases of senders that died). */
  pollMs: number;
  /** Finished messages older than this are deleted with their deliveries and attempts. */
  retentionDays: number;
  /**
   * Space claims out when events trickle in (see `lastClaimMs`): for a database that runs
   * one statement at a time (PGlite), where claims compete with the enqueuing transactions.
   */
  paceClaims: boolean;
}

/**
 * The sender loop. One per process (api and worker alike): any number of them share the
 * queue through `FOR UPDATE SKIP LOCKED` claims with leases.
 *
 * It sleeps until the earliest of: a NOTIFY on `channels.webhooks` (an event committed, a
 * redelivery was asked for), the next retry falling due (read from the queue, so a retry
 * scheduled by another process is found too), a free slot when it was full, or `pollMs`.
 * Every wake-up re-reads the table; notifications carry no data.
 *
 * Sizes: 256 attempts in flight, 64 per endpoint, claims of 32. A healthy receiver answers
 * in a few milliseconds, so two claims of 32 keep one endpoint's pipeline full while the
 * next claim and the previous batch's write are on their way; a receiver that hangs for
 * the 15 s timeout ties up at most 95 slots (an endpoint with 64 in flight is skipped; one
 * claim may add 31 more) and the other endpoints keep the rest. The loop is woken again
 * only when an endpoint's (or the process's) slots are half free, and after a full claim
 * it claims again only if the claimed endpoints still have room or other endpoints have
 * rows due — an immediate re-claim used to come back empty once per batch. Finished
 * attempts are written together, one statement per batch: per-delivery round trips held
 * PGlite (one statement at a time) to a small fraction of what batching drains
 * (docs/PERFORMANCE.md, "Webhook delivery", has the figures).
 */
export function createDeliveryRunner(opts: DeliveryRunnerOptions): Runner {
  const { db, notifier, log, sender, owner } = opts;
  const inFlight = new Map<string, { endpointId: string | null; controller: AbortController; task: Promise<void> }>();
  const perEndpoint = new Map<string, number>();
  let stopping = false;
  let loop: Promise<void> | undefined;
  let dirty = true;
  let sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  let dropReconnect: (() => void) | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  let pruning: Promise<void> | undefined;
  const claimLimit = Math.min(opts.concurrency, Math.max(1, Math.floor(opts.perEndpoint / 2)));
  const recorder = createBatchRecorder(db);

  const wake = () => {
    dirty = true;
    if (sleeper) {
      clearTimeout(sleeper.timer);
      sleeper.resolve();
      sleeper = undefined;
    }
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      sleeper = {
        timer: setTimeout(() => {
          sleeper = undefined;
          resolve();
        }, ms),
        resolve,
      };
    });

  const busyEndpoints = () => [...perEndpoint].filter(([, n]) => n >= opts.perEndpoint).map(([id]) => id);

  // With `paceClaims`, claims at most every `lastClaimMs` when events trickle in: otherwise
  // each NOTIFY costs a claim of its own, which saturates PGlite (one statement at a time,
  // shared with the transactions that enqueue) and multiplies the time from commit to
  // arrival. Waiting as long as the last claim took keeps claims under half of its time
  // (docs/PERFORMANCE.md, "Webhook delivery"). A server runs claims beside everything
  // else: no pause there.
  let lastClaimMs = 0;
  let lastClaimEnd = 0;
  /** Claim without the pause: slots were freed, a row came back, or a full batch left more. */
  let urgent = true;

  async function run(): Promise<void> {
    while (!stopping) {
      let waitMs = opts.pollMs;
      try {
        const pause = Math.min(lastClaimMs - (performance.now() - lastClaimEnd), MAX_CLAIM_PAUSE_MS);
        if (opts.paceClaims && !urgent && pause > 0) await new Promise((r) => setTimeout(r, pause));
        dirty = false;
        urgent = false;
        const capacity = opts.concurrency - inFlight.size;
        if (capacity > 0) {
          const skip = busyEndpoints();
          const limit = Math.min(capacity, claimLimit);
          const started = performance.now();
          const { claimed, nextDueMs, otherDueMs } = await claimDeliveries(db, {
            owner,
            limit,
            leaseSeconds: opts.leaseSeconds,
            skipEndpoints: skip,
          });
          lastClaimEnd = performance.now();
          lastClaimMs = lastClaimEnd - started;
          for (const delivery of claimed) dispatch(delivery);
          // A full batch: claim again at once if its endpoints still have room, or if others
          // have rows due. Otherwise the next claim would find nothing it may take (their
          // rows are skipped now) — wait for slots to free instead.
          if (claimed.length === limit) {
            const room = claimed.some((d) => d.endpointId === null || (perEndpoint.get(d.endpointId) ?? 0) < opts.perEndpoint);
            if (room || otherDueMs === 0) {
              urgent = true;
              continue;
            }
            if (otherDueMs !== null) waitMs = Math.min(otherDueMs, opts.pollMs);
          }
          // A row due now that this claim did not get is locked for an instant by another
          // sender's claim: look again shortly rather than spin.
          else if (nextDueMs !== null) waitMs = Math.min(nextDueMs > 0 ? nextDueMs : 20, opts.pollMs);
        }
      } catch (err) {
        if (stopping) break;
        log.error({ err }, 'webhook delivery loop failed; retrying');
        waitMs = 1_000;
      }
      if (!dirty && !stopping) await sleep(waitMs);
    }
  }

  function dispatch(delivery: ClaimedDelivery): void {
    const controller = new AbortController();
    if (delivery.endpointId) perEndpoint.set(delivery.endpointId, (perEndpoint.get(delivery.endpointId) ?? 0) + 1);
    const task = deliver(delivery, controller.signal)
      .catch((err) => {
        log.error({ err, deliveryId: delivery.id }, 'webhook delivery failed unexpectedly');
        return true;
      })
      .then((requeued) => {
        // Wake the loop only when it can claim a batch again — half the slots free, globally
        // or for this endpoint — or when the row is back in the queue (a retry may fall due
        // before the loop's current sleep ends).
        const before = inFlight.size;
        inFlight.delete(delivery.id);
        let freed = before > opts.concurrency / 2 && inFlight.size <= opts.concurrency / 2;
        if (delivery.endpointId) {
          const n = perEndpoint.get(delivery.endpointId) ?? 1;
          if (n > opts.perEndpoint / 2 && n - 1 <= opts.perEndpoint / 2) freed = true;
          if (n > 1) perEndpoint.set(delivery.endpointId, n - 1);
          else perEndpoint.delete(delivery.endpointId);
        }
        if (freed || requeued) {
          urgent = true;
          wake();
        }
      });
    inFlight.set(delivery.id, { endpointId: delivery.endpointId, controller, task });
  }

  /** Makes one attempt and records it; true when the delivery went back to the queue. */
  async function deliver(d: ClaimedDelivery, signal: AbortSignal): Promise<boolean> {
    if (!d.endpointEnabled) {
      await failUnsent(db, d.id, owner, 'endpoint disabled');
      return false;
    }
    // Possible only after senders died mid-attempt (each claim counts one).
    if (d.attempt > d.maxAttempts) {
      await failUnsent(db, d.id, owner, `gave up after ${d.maxAttempts} attempts`);
      return false;
    }

    const startedAt = new Date();
    const body = d.format === 'openai' ? openAiWebhookBody(d.messageId, d.payload) : d.payload;
    const headers = {
      'webhook-id': d.messageId,
      'webhook-timestamp': String(Math.floor(startedAt.getTime() / 1000)),
      'webhook-signature': signatureHeader(d.secrets, d.messageId, startedAt, body),
    };
    const result = await sender.send(d.url, headers, body, signal);
    if (result.aborted) {
      // Shutdown: nobody is listening for a wake-up any more.
      await releaseLease(db, d.id, owner);
      return false;
    }

    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const gone = result.statusCode === 410;
    const record: AttemptRecord = {
      deliveryId: d.id,
      owner,
      attempt: d.attempt,
      url: d.url,
      startedAt,
      latencyMs: result.latencyMs,
      statusCode: result.statusCode,
      error: result.error ?? (ok ? null : `HTTP ${result.statusCode}`),
      snippet: result.snippet,
      next: 'succeeded',
    };
    if (!ok) {
      if (gone || result.permanent || d.attempt >= d.maxAttempts) record.next = 'failed';
      else {
        record.next = 'pending';
        // Retry-After is a floor the receiver asked for; the schedule still applies above it.
        record.retryDelayMs = Math.max(retryDelayMs(d.attempt, opts.retryFactor), result.retryAfterMs ?? 0);
      }
    }
    const applied = await recorder.record(record);
    if (!applied) {
      log.warn({ deliveryId: d.id, attempt: d.attempt }, 'webhook attempt finished after its lease was taken over; not recorded');
      return false;
    }
    if (gone && d.endpointId) {
      await db.transaction().execute((trx) => disableEndpoint(trx, d.endpointId!, 'gone'));
      log.warn({ endpointId: d.endpointId, deliveryId: d.id }, 'webhook endpoint answered 410 Gone; disabled');
    } else if (!ok) {
      // The URL itself may carry credentials (path tokens): log its origin only.
      log.info(
        {
          deliveryId: d.id,
          messageId: d.messageId,
          endpointId: d.endpointId,
          origin: safeOrigin(d.url),
          attempt: d.attempt,
          statusCode: result.statusCode,
          error: record.error,
          retryInMs: record.retryDelayMs,
        },
        record.next === 'failed' ? 'webhook delivery failed for good' : 'webhook attempt failed; will retry',
      );
    }
    return record.next === 'pending';
  }

  /** Retention, hourly; the first run is spread over the first hour so processes that start together do not prune together. */
  function schedulePrune(delayMs: number): void {
    pruneTimer = setTimeout(() => {
      pruning = (async () => {
        try {
          let deleted = 0;
          for (let n = -1; n !== 0 && !stopping; deleted += n) n = await pruneMessages(db, opts.retentionDays);
          if (deleted > 0) log.info({ deleted, retentionDays: opts.retentionDays }, 'pruned old webhook messages');
        } catch (err) {
          log.warn({ err }, 'pruning old webhook messages failed; will retry');
        }
        if (!stopping) schedulePrune(PRUNE_EVERY_MS);
      })();
    }, delayMs);
    pruneTimer.unref();
  }

  return {
    name: 'webhook-delivery',
    async start() {
      unlisten = await notifier.listen(channels.webhooks, (payload) => {
        // New deliveries only for endpoints this sender already has its fill of: the
        // wake-up that frees their slots will claim them.
        if (payload && payload !== '*' && payload.split(',').every((id) => (perEndpoint.get(id) ?? 0) >= opts.perEndpoint)) return;
        wake();
      });
      dropReconnect = notifier.onReconnect(wake);
      loop = run();
      schedulePrune(PRUNE_EVERY_MS * Math.random());
    },
    async stop() {
      stopping = true;
      clearTimeout(pruneTimer);
      wake();
      await loop;
      await pruning;
      await unlisten?.();
      dropReconnect?.();
      // Give attempts in flight a moment to finish, then cut them short: their leases are
      // handed back, so another process (or this one, restarted) sends them again.
      const tasks = [...inFlight.values()].map((f) => f.task);
      if (tasks.length) {
        let grace: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(tasks), new Promise<void>((r) => (grace = setTimeout(r, 2_000)))]);
        clearTimeout(grace);
        for (const f of inFlight.values()) f.controller.abort();
        await Promise.all([...inFlight.values()].map((f) => f.task));
      }
    },
  };
}

/**
 * Writes finished attempts in batches: a write starts LINGER_MS after the first attempt
 * finishes, with everything that finished meanwhile, and whatever finishes while a write
 * is in flight goes into the next one. The delay is paid after the receiver already has
 * the webhook; it only holds the slot a little longer. At a few hundred deliveries a
 * second it turns one statement per delivery (each blocking the event loop that also
 * sends; docs/PERFORMANCE.md, "Webhook delivery") into one per handful.
 */
const LINGER_MS = 5;

const PRUNE_EVERY_MS = 3_600_000;

/** The longest pause between two claims (see `lastClaimMs`). */
const MAX_CLAIM_PAUSE_MS = 50;

function createBatchRecorder(db: Db) {
  const queue: Array<{ record: AttemptRecord; resolve: (applied: boolean) => void; reject: (err: unknown) => void }> = [];
  let flushing = false;

  async function flush(): Promise<void> {
    flushing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, 250);
        try {
          const applied = await recordAttempts(
            db,
            batch.map((b) => b.record),
          );
          for (const b of batch) b.resolve(applied.has(b.record.deliveryId));
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      flushing = false;
    }
  }

  return {
    record(record: AttemptRecord): Promise<boolean> {
      return new Promise((resolve, reject) => {
        queue.push({ record, resolve, reject });
        if (!flushing) {
          flushing = true;
          setTimeout(() => void flush(), LINGER_MS);
        }
      });
    },
  };
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
