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
