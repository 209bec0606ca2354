import type { Config } from '../config.js';

/**
 * The time (ms since the epoch) before which a half-written file in the data folder
 * cannot have a live writer. With the embedded database one process holds the data
 * folder (`db.lock`, taken over from a dead holder at start-up), so a temp file older than
 * this process was left by one that died — a restart after kill -9 removes it at once.
 * With a PostgreSQL server several processes share the folder and only age tells: 0.
 */
export function orphanedBefore(config: Pick<Config, 'databaseUrl'>): number {
  return config.databaseUrl ? 0 : performance.timeOrigin;
}
