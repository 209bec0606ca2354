/** A running heartbeat; `stop` ends it (idempotent). */
export interface Heartbeat {
  stop(): void;
}

/**
 * Renews a lease every `everyMs` while work runs. `renew` resolves false when the lease is
 * no longer ours (another process took it over, or the row is gone): `onLost` is called
 * once and the heartbeat ends. A renewal that throws (database briefly unreachable) is
 * reported and retried on the next beat; the lease is long enough to survive a miss.
 */
export function startHeartbeat(opts: {
  everyMs: number;
  renew(): Promise<boolean>;
  onLost(): void;
  onError(err: unknown): void;
}): Heartbeat {
  let stopped = false;
  let beating = false;
  const timer = setInterval(() => {
    if (stopped || beating) return;
    beating = true;
    opts
      .renew()
      .then(
        (held) => {
          if (held || stopped) return;
          stopped = true;
          clearInterval(timer);
          opts.onLost();
        },
        (err) => opts.onError(err),
      )
      .finally(() => {
        beating = false;
      });
  }, opts.everyMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
