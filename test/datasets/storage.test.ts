import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/datasets/dataset-error.js';
import { datasetPath, openDataset, removeIfUnreferenced, storeStream, sweepTempFiles } from '../../src/datasets/storage.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tmp = useTempDir();
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Every file under `dir`, relative. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length + 1))
    .sort();
}

function chunks(parts: Array<string | Error>, delayMs = 0): AsyncIterable<Buffer> {
  return (async function* () {
    for (const p of parts) {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if (p instanceof Error) throw p;
      yield Buffer.from(p);
    }
  })();
}

describe('content-addressed storage', () => {
  it('stores a stream under datasets/sha256/<aa>/<sha>.jsonl and dedups identical bytes', async () => {
    const dataDir = join(tmp.path, 'dedup');
    const body = '{"a":1}\n{"b":2}\n';
    const first = await storeStream(chunks(['{"a":1}\n', '{"b":2}\n']), { dataDir, maxBytes: 1000 });
    expect(first).toEqual({
      sha256: sha(body),
      bytes: body.length,
      path: join(dataDir, 'datasets', 'sha256', sha(body).slice(0, 2), `${sha(body)}.jsonl`),
      created: true,
    });
    expect(await readFile(first.path, 'utf8')).toBe(body);
    const second = await storeStream(Readable.from([Buffer.from(body)]), { dataDir, maxBytes: 1000 });
    expect(second).toEqual({ ...first, created: false });
    expect(await listFiles(dataDir)).toEqual([`datasets/sha256/${sha(body).slice(0, 2)}/${sha(body)}.jsonl`]);
    expect(await openDataset(dataDir, first.sha256)).toEqual({ ...first, created: false });
  });

  it('aborts with file_too_large past maxBytes and leaves nothing behind', async () => {
    const dataDir = join(tmp.path, 'too-large');
    const error = await storeStream(chunks(['x'.repeat(600), 'y'.repeat(600)]), { dataDir, maxBytes: 1000 }).catch((e) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error).toMatchObject({ code: 'file_too_large', status: 413, details: { maxBytes: 1000 } });
    expect(await listFiles(dataDir)).toEqual([]);
  });

  it('leaves nothing behind when the upload stream errors mid-way', async () => {
    const dataDir = join(tmp.path, 'errored');
    const error = await storeStream(chunks(['{"a":1}\n', new Error('socket hang up')]), { dataDir, maxBytes: 1000 }).catch((e) => e);
    expect(error).toMatchObject({ code: 'upload_aborted' });
    expect(error.message).not.toContain('socket');
    expect(await listFiles(dataDir)).toEqual([]);
  });

  it('leaves nothing behind when a Node stream is destroyed (client went away)', async () => {
    const dataDir = join(tmp.path, 'destroyed');
    const stream = new Readable({ read() {} });
    stream.push('{"a":1}\n');
    setTimeout(() => stream.destroy(new Error('aborted')), 20);
    await expect(storeStream(stream, { dataDir, maxBytes: 1000 })).rejects.toMatchObject({ code: 'upload_aborted' });
    expect(await listFiles(dataDir)).toEqual([]);
  });

  it('leaves nothing behind when its AbortSignal fires', async () => {
    const dataDir = join(tmp.path, 'signal');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const stream = chunks(
      Array.from({ length: 50 }, () => 'z'.repeat(10)),
      5,
    );
    await expect(storeStream(stream, { dataDir, maxBytes: 10_000, signal: controller.signal })).rejects.toMatchObject({
      code: 'upload_aborted',
    });
    expect(await listFiles(dataDir)).toEqual([]);
  });

  it('removes a file only when no dataset references it', async () => {
    const dataDir = join(tmp.path, 'remove');
    const stored = await storeStream(chunks(['{"x":1}\n']), { dataDir, maxBytes: 100 });
    expect(await removeIfUnreferenced(dataDir, stored.sha256, async () => true)).toBe(false);
    expect((await stat(stored.path)).isFile()).toBe(true);
    expect(await removeIfUnreferenced(dataDir, stored.sha256, async () => false)).toBe(true);
    await expect(stat(stored.path)).rejects.toThrow();
    expect(await removeIfUnreferenced(dataDir, stored.sha256, async () => false)).toBe(false);
    await expect(openDataset(dataDir, stored.sha256)).rejects.toMatchObject({ code: 'dataset_missing' });
  });

  it('sweeps temp files a crashed process left, and only old ones', async () => {
    const dataDir = join(tmp.path, 'sweep');
    await mkdir(join(dataDir, 'datasets', 'tmp'), { recursive: true });
    const old = join(dataDir, 'datasets', 'tmp', 'old.part');
    const fresh = join(dataDir, 'datasets', 'tmp', 'fresh.part');
    await writeFile(old, 'x');
    await writeFile(fresh, 'y');
    const hourAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(old, hourAgo, hourAgo);
    expect(await sweepTempFiles(dataDir)).toBe(1);
    expect(await listFiles(dataDir)).toEqual(['datasets/tmp/fresh.part']);
  });

  it('refuses a malformed sha256', () => {
    expect(() => datasetPath('/data', '../../etc/passwd')).toThrow(TypeError);
  });
});
