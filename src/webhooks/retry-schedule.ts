/**
 * When a failed delivery is tried again: the Standard Webhooks schedule — immediately,
 * then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after each failure — continued with 10 h
 * retries so the whole schedule spans about 3 days (12 attempts over ~67.6 h of waiting):
 * a receiver that is down over a weekend still gets every event.
 * Each delay is jittered by ±20 % so deliveries that failed together (a receiver outage)
 * do not come back as one thundering herd. `factor` scales the whole schedule (tests use
 * ~0.001: 5 ms, 300 ms, 1.8 s, …).
 */
export const RETRY_DELAYS_MS: readonly number[] = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

/** The first attempt plus one per retry delay. */
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

const JITTER = 0.2;

/** A `Retry-After` longer than this is capped (a receiver cannot park a delivery for weeks). */
export const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

/**
 * Milliseconds to wait after attempt number `attempt` (1-based) failed. `random` is
 * injectable for tests; the result is within ±20 % of the scheduled delay × factor.
 */
export function retryDelayMs(attempt: number, factor: number, random: () => number = Math.random): number {
  const base = RETRY_DELAYS_MS[Math.min(Math.max(attempt, 1), RETRY_DELAYS_MS.length) - 1]!;
  const jitter = 1 + JITTER * (2 * random() - 1);
  return Math.max(0, Math.round(base * factor * jitter));
}

/**
 * A `Retry-After` header (RFC 9110: delay-seconds or an HTTP-date) as milliseconds from
 * `now`, capped at 24 h; null when absent or unparsable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | null {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return null;
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const date = Date.parse(text);
    if (Number.isNaN(date)) return null;
    ms = date - now;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
