import path from 'node:path';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Rewrites the server's data-folder paths in text an API client will read (a job's error
 * message comes from the trainer, which names the folders it works in): a checkpoint
 * folder becomes its id (`ckpt-step-12`), anything else under the data folder becomes
 * `<data-dir>/…`. Clients learn what failed without learning how the server is laid out.
 */
export function redactServerPaths(text: string, dataDir: string): string {
  const root = escapeRegExp(path.resolve(dataDir));
  return text
    .replace(new RegExp(`${root}/jobs/[^/\\s]+/checkpoints/\\.?(?:tmp-)?step-0*(\\d+)`, 'g'), (_m, n: string) => `ckpt-step-${Number(n)}`)
    .replace(new RegExp(`${root}(?![\\w.-])`, 'g'), '<data-dir>');
}
