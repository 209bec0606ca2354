import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import { sweepShardParts } from '../../src/datasets/shards/sweep-shard-parts.js';

const SHA = 'ab'.repeat(32);
const KEY = 'cd'.repeat(32);
const HOUR = 60 * 60 * 1000;

/** A shard folder with a finished shard, leftovers of a dead writer (old) and a live writer's files (new). */
async function layout(dataDir: string): Promise<{ folder: string; old: string[]; kept: string[] }> {
  const folder = join(dataDir, 'shards', SHA.slice(0, 2), SHA);
  await mkdir(folder, { recursive: true });
  const old = [
    `.${KEY}.tlshard.1a2b3c.0.tokens`,
    `.${KEY}.tlshard.1a2b3c.0.mask`,
    `.${KEY}.tlshard.1a2b3c.0.lengths`,
    `.${KEY}.tlshard.4d5e6f.json`,
    `.${KEY}.tlshard.778899.tmp`,
  ];
  const fresh = [`.${KEY}.tlshard.aabbcc.1.tokens`];
  const finished = [`${KEY}.tlshard`, `${KEY}.json`];
  for (const name of [...old, ...fresh, ...finished]) await writeFile(join(folder, name), 'x');
  const past = new Date(Date.now() - 2 * HOUR);
  for (const name of [...old, ...finished]) await utimes(join(folder, name), past, past);
  return { folder, old, kept: [...fresh, ...finished].sort() };
}

describe('shard temp sweep', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('removes shard part, summary and assembly temp files older than an hour, and nothing else', async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const { folder, old, kept } = await layout(dataDir);
    expect(await sweepShardParts(dataDir)).toBe(old.length);
    expect((await readdir(folder)).sort()).toEqual(kept);
    expect(await sweepShardParts(join(dataDir, 'nowhere'))).toBe(0);
  });

  it("runs in the app's background sweep (with the upload temp sweep)", async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const { folder, kept } = await layout(dataDir);
    const tmp = join(dataDir, 'datasets', 'tmp');
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, 'dead.part'), 'x');
    await writeFile(join(tmp, 'live.part'), 'x');
    await utimes(join(tmp, 'dead.part'), new Date(Date.now() - 2 * HOUR), new Date(Date.now() - 2 * HOUR));
    const t = await startTestApp('pglite', { dataDir });
    try {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && ((await readdir(folder)).length !== kept.length || (await readdir(tmp)).length !== 1))
        await new Promise((r) => setTimeout(r, 50));
      expect((await readdir(folder)).sort()).toEqual(kept);
      expect(await readdir(tmp)).toEqual(['live.part']);
    } finally {
      await t.stop();
    }
  });
});
