import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Temp files of a shard being written: parts (`.tokens`, `.mask`, `.lengths`), the summary
 * and the assembled file, all named `.<key>.tlshard.<random>…` beside the shard
 * (see `partStemFor` and `assembleShard`).
 */
const SHARD_TEMP = /^\..+\.tlshard\..+/;

/**
 * Removes shard temp files older than `olderThanMs` under `<dataDir>/shards`: the
 * leftovers of a process that died while tokenizing (a live writer touches its files
 * far more often than once an hour). Returns how many were removed. Reads one folder per
 * dataset that has shards, so callers run it rarely (minutes apart), not on every tick.
 */
export async function sweepShardParts(dataDir: string, olderThanMs = 60 * 60 * 1000): Promise<number> {
  const root = join(dataDir, 'shards');
  const cutoff = Date.now() - olderThanMs;
  let removed = 0;
  for (const prefix of await names(root)) {
    for (const dataset of await names(join(root, prefix))) {
      removed += await removeTemps(join(root, prefix, dataset), (name) => SHARD_TEMP.test(name), cutoff);
    }
  }
  return removed;
}

/**
 * Removes the temp files of one shard not written to for `olderThanMs`: called by the
 * process that took over a tokenization (or validation) whose holder died, so the dead
 * holder's half-written parts go at once instead of after an hour. A live writer appends
 * to its parts continuously, so 30 s of silence is far past any pause of a live one.
 * Returns how many were removed.
 */
export function removeShardTemps(shardPath: string, olderThanMs = 30_000): Promise<number> {
  const prefix = `.${basename(shardPath)}.`;
  return removeTemps(dirname(shardPath), (name) => name.startsWith(prefix), Date.now() - olderThanMs);
}

/** Removes the regular files in `folder` that `isTemp` picks and that were last written before `cutoff`. */
async function removeTemps(folder: string, isTemp: (name: string) => boolean, cutoff: number): Promise<number> {
  let removed = 0;
  for (const name of await names(folder)) {
    if (!isTemp(name)) continue;
    const path = join(folder, name);
    const info = await stat(path).catch(() => null);
    if (info?.isFile() && info.mtimeMs < cutoff) {
      await rm(path, { force: true });
      removed++;
    }
  }
  return removed;
}

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}
