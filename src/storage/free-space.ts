import { statfs } from 'node:fs/promises';
import { formatBytes } from '../datasets/storage.js';

/** Bytes an unprivileged process may still write on the filesystem that holds `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * Why the data folder cannot take writes now, or null when it can: readiness fails while
 * less than `minFreeBytes` is free there, so a load balancer stops sending uploads and jobs
 * to a process whose disk is (nearly) full instead of letting them fail half-written.
 */
export async function dataFolderProblem(dataDir: string, minFreeBytes: number): Promise<string | null> {
  if (minFreeBytes <= 0) return null;
  const free = await freeBytes(dataDir);
  if (free >= minFreeBytes) return null;
  return `the data folder has ${formatBytes(free)} free, less than the ${formatBytes(minFreeBytes)} floor (TUNELOOP_MIN_FREE_BYTES); free some space`;
}
