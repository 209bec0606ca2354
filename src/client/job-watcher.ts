import type { ApiClient, Job, JobEvent } from './api-client.js';
import { ApiError, ConnectionError } from './api-error.js';

/** A job in one of these statuses will not change again. PAUSED is not one: it resumes. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** What a watcher tells whoever shows the job. */
export interface WatchListener {
  /** The job as the server has it: at the start, and again after every reconnect. */
  snapshot(job: Job): void;
  /**
   * One event, each at most once and steps in order. `history` marks what happened before
   * the watch began (replayed so a loss chart has something to draw).
   */
  event(event: JobEvent, history: boolean): void;
  /** The stream broke; the watcher tries again after `delayMs`. */
  reconnecting(reason: Error, attempt: number, delayMs: number): void;
}

export interface WatchOptions {
  /** How many steps before the current one to replay at the start (the sparkline's memory; Infinity: all). */
  historySteps?: number;
  /** Give up after the server has been unreachable this long (default 2 minutes). */
  maxOutageMs?: number;
  /** A stream with no byte (not even a keep-alive) for this long is dead (default 45 s). */
  idleMs?: number;
  signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });

/** A failure worth reconnecting after: the server unreachable, or a proxy's 502/503/504. */
const transient = (err: unknown): err is Error =>
  err instanceof ConnectionError || (err instanceof ApiError && [502, 503, 504].includes(err.status));

/**
 * Follows a job until it ends and returns it as it ended.
 *
 * The job's server-sent events (`GET /api/training/{id}/events`) are the source. When the
 * stream breaks, the watcher reconnects with `afterStep` = the last step it saw and
 * `Last-Event-ID` = the last event's sequence, so no step is lost and none is shown twice;
 * it re-reads the job first, so whoever shows it learns at once what changed meanwhile.
 * Only the server's own refusals (404, 401, …) end a watch early.
 */
export async function watchJob(client: ApiClient, jobId: string, listener: WatchListener, opts: WatchOptions = {}): Promise<Job> {
  let job = await client.getJob(jobId);
  listener.snapshot(job);
  const history = opts.historySteps ?? 0;
  // A job that has ended has nothing new to show, unless all of its history is asked for.
  if (FINAL_STATUSES.has(job.status) && Number.isFinite(history)) return job;
  const startStep = job.progress.step;
  let lastStep = Math.max(0, startStep - history);
  // Infinite history: the whole stream, status changes before the first step included.
  const firstAfterStep = Number.isFinite(history) ? lastStep : undefined;
  let lastSeq: number | undefined;
  let outageSince: number | undefined;
  let attempt = 0;
  for (;;) {
    let reason: Error;
    try {
      for await (const event of client.jobEvents(jobId, {
        afterStep: lastSeq === undefined ? firstAfterStep : lastStep,
        lastEventId: lastSeq,
        idleMs: opts.idleMs,
        signal: opts.signal,
      })) {
        outageSince = undefined;
        attempt = 0;
        if (lastSeq !== undefined && event.sequence <= lastSeq) continue;
        lastSeq = event.sequence;
        if (event.type === 'step') {
          if (event.step <= lastStep) continue;
          lastStep = event.step;
        }
        const final = event.type === 'status' && FINAL_STATUSES.has(event.status);
        listener.event(event, !final && (event.type === 'step' ? event.step <= startStep : event.step < startStep));
        if (final) return await client.getJob(jobId);
      }
      if (opts.signal?.aborted) return job;
      reason = new ConnectionError(client.url, new Error('the event stream ended before the job did'));
    } catch (err) {
      if (!transient(err)) throw err;
      reason = err;
    }
    outageSince ??= Date.now();
    if (Date.now() - outageSince > (opts.maxOutageMs ?? 120_000)) throw reason;
    attempt++;
    const delayMs = Math.min(500 * 2 ** (attempt - 1), 10_000);
    listener.reconnecting(reason, attempt, delayMs);
    await sleep(delayMs, opts.signal);
    try {
      // Even a job that ended meanwhile is streamed once more: the stream replays the steps
      // missed since `lastStep`, then the final status.
      job = await client.getJob(jobId);
      listener.snapshot(job);
    } catch (err) {
      if (!transient(err)) throw err;
    }
  }
}
