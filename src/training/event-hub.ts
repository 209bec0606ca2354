import type { Db } from '../db/connect.js';
import type { Notifier } from '../db/notifier.js';
import { channels } from '../db/notifier.js';
import type { TrainingEvent } from '../db/tables/training.js';
import { TERMINAL_STATUSES } from '../db/tables/training.js';
import type { Logger } from '../log.js';

interface Subscriber {
  /** The highest sequence number handed to this subscriber. */
  lastSeq: number;
  push(events: TrainingEvent[]): void;
}

interface JobChannel {
  subscribers: Set<Subscriber>;
  fetching: Promise<void> | undefined;
  again: boolean;
}

/**
 * Fans a job's stored events out to every subscriber in this process.
 *
 * A NOTIFY on `tl_job_events` (payload: the job id) costs one query per job per process —
 * not one per subscriber — however many clients watch the job: the hub reads the rows
 * after the slowest subscriber's position and hands each subscriber what it has not seen.
 * Notifications only wake the hub; the rows are the truth, so a missed one (a LISTEN
 * connection that dropped) is repaired by the reconnect hook and a slow safety poll.
 */
export class JobEventHub {
  private readonly jobs = new Map<string, JobChannel>();
  private unlisten: (() => Promise<void>) | undefined;
  private starting: Promise<void> | undefined;
  private poll: NodeJS.Timeout | undefined;
  private dropReconnect: (() => void) | undefined;

  constructor(
    private readonly db: Db,
    private readonly notifier: Notifier,
    private readonly log: Logger,
  ) {}

  private ensureStarted(): Promise<void> {
    this.starting ??= (async () => {
      this.unlisten = await this.notifier.listen(channels.jobEvents, (jobId) => this.wake(jobId));
      this.dropReconnect = this.notifier.onReconnect(() => {
        for (const jobId of this.jobs.keys()) this.wake(jobId);
      });
      this.poll = setInterval(() => {
        for (const jobId of this.jobs.keys()) this.wake(jobId);
      }, 5_000);
      this.poll.unref();
    })();
    return this.starting;
  }

  /** Registers a subscriber; events stored after `lastSeq` are pushed to it as they arrive. */
  async attach(jobId: string, subscriber: Subscriber): Promise<() => void> {
    await this.ensureStarted();
    let channel = this.jobs.get(jobId);
    if (!channel) this.jobs.set(jobId, (channel = { subscribers: new Set(), fetching: undefined, again: false }));
    channel.subscribers.add(subscriber);
    return () => {
      channel.subscribers.delete(subscriber);
      if (channel.subscribers.size === 0 && this.jobs.get(jobId) === channel) this.jobs.delete(jobId);
    };
  }

  /** Reads new rows for a job (coalescing wake-ups that arrive while a read is running). */
  wake(jobId: string): void {
    const channel = this.jobs.get(jobId);
    if (!channel) return;
    if (channel.fetching) {
      channel.again = true;
      return;
    }
    channel.fetching = (async () => {
      do {
        channel.again = false;
        const from = Math.min(...[...channel.subscribers].map((s) => s.lastSeq));
        if (!Number.isFinite(from)) break;
        const rows = await this.db
          .selectFrom('training_events')
          .selectAll()
          .where('job_id', '=', jobId)
          .where('seq', '>', from)
          .orderBy('seq')
          .limit(1000)
          .execute();
        for (const subscriber of channel.subscribers) {
          const fresh = rows.filter((r) => r.seq > subscriber.lastSeq);
          if (fresh.length) subscriber.push(fresh);
        }
        if (rows.length === 1000) channel.again = true;
      } while (channel.again);
    })()
      .catch((err) => this.log.warn({ err, jobId }, 'reading job events failed'))
      .finally(() => {
        channel.fetching = undefined;
      });
  }

  async close(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    this.dropReconnect?.();
    await this.starting?.catch(() => {});
    await this.unlisten?.();
    this.jobs.clear();
  }
}

export const isTerminalEvent = (e: TrainingEvent) => e.type === 'status' && TERMINAL_STATUSES.includes(e.status);

/**
 * The events of one job as an async stream: stored events first (after `afterStep`),
 * then live ones, ending after the terminal status. Which events: steps with
 * step > afterStep, status changes at a later step, and the terminal status always — so
 * a client that reconnects with the last step it saw gets every step exactly once and
 * still learns how the job ended.
 */
export async function* streamJobEvents(
  hub: JobEventHub,
  db: Db,
  jobId: string,
  opts: { afterStep?: number | null; types?: ReadonlyArray<TrainingEvent['type']>; signal?: AbortSignal },
): AsyncGenerator<TrainingEvent> {
  const afterStep = opts.afterStep ?? null;
  const types = opts.types ?? ['status', 'step'];
  const wanted = (e: TrainingEvent) => types.includes(e.type) && (afterStep === null || e.step > afterStep || isTerminalEvent(e));

  let queue: TrainingEvent[] = [];
  let wakeUp: (() => void) | undefined;
  const subscriber: Subscriber = {
    lastSeq: Number.MAX_SAFE_INTEGER, // nothing live until the replay has set the position
    push(events) {
      queue.push(...events);
      this.lastSeq = events[events.length - 1]!.seq;
      wakeUp?.();
    },
  };
  const detach = await hub.attach(jobId, subscriber);
  const onAbort = () => wakeUp?.();
  opts.signal?.addEventListener('abort', onAbort);
  try {
    const stored = await db.selectFrom('training_events').selectAll().where('job_id', '=', jobId).orderBy('seq').execute();
    subscriber.lastSeq = stored.at(-1)?.seq ?? 0;
    for (const event of stored) {
      if (!wanted(event)) continue;
      yield event;
      if (isTerminalEvent(event)) return;
    }
    hub.wake(jobId);
    while (!opts.signal?.aborted) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => (wakeUp = resolve));
        wakeUp = undefined;
        continue;
      }
      const batch = queue;
      queue = [];
      for (const event of batch) {
        if (!wanted(event)) continue;
        yield event;
        if (isTerminalEvent(event)) return;
      }
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    detach();
  }
}
