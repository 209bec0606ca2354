/** A background loop owned by a process (trainer worker, webhook delivery, sweepers). */
export interface Runner {
  name: string;
  start(): Promise<void>;
  /** Stops taking work and finishes or hands back what is in flight. */
  stop(): Promise<void>;
}

/** Which roles a process plays: the api serves HTTP, the worker runs trainer jobs. */
export interface Roles {
  api: boolean;
  worker: boolean;
}

export interface PeriodicOptions {
  /** Delay before the first run. */
  firstMs: number;
  /** Delay between the end of one run and the start of the next… */
  everyMs: number;
  /** …plus up to this much at random, so the sweeps of many processes spread out. */
  jitterMs: number;
}

/**
 * A runner that calls `tick` again and again (never two at once) until stopped; a tick
 * that throws is reported to `onError` and the loop goes on. Sweepers are built on it.
 */
export function periodicRunner(name: string, opts: PeriodicOptions, tick: () => Promise<unknown>, onError: (err: unknown) => void): Runner {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .then(() => undefined, onError)
        .finally(() => {
          running = undefined;
          schedule(opts.everyMs + Math.random() * opts.jitterMs);
        });
    }, ms);
    timer.unref();
  };
  return {
    name,
    async start() {
      stopped = false;
      schedule(opts.firstMs);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
