import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isDiskFullError } from '../storage/disk-full.js';
import { DatasetError } from './dataset-error.js';

/** Where a stored dataset lives and what it is. */
export interface StoredDataset {
  /** Lowercase hex sha256 of the file's bytes: the dataset's content address. */
  sha256: string;
  bytes: number;
  /** Absolute path of the stored file (`<dataDir>/datasets/sha256/<aa>/<sha>.jsonl`). */
  path: string;
  /** False when identical bytes were already stored (the new copy was dropped). */
  created: boolean;
}

export interface StoreOptions {
  dataDir: string;
  /** Abort with `file_too_large` as soon as the stream passes this many bytes. */
  maxBytes: number;
  /** Aborts the store (for example when the client disconnects). */
  signal?: AbortSignal;
}

/** Default dataset size limit: 512 MB. */
export const DEFAULT_MAX_DATASET_BYTES = 512 * 1024 * 1024;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The path a dataset with this sha256 is stored at. */
export function datasetPath(dataDir: string, sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw new TypeError(`not a sha256 hex digest: ${sha256}`);
  return join(dataDir, 'datasets', 'sha256', sha256.slice(0, 2), `${sha256}.jsonl`);
}

/**
 * Temp files live beside the final tree on the same filesystem, so the final
 * `rename` is atomic; a crash leaves only `*.part` files, which `sweepTempFiles` removes.
 */
function tempDir(dataDir: string): string {
  return join(dataDir, 'datasets', 'tmp');
}

/**
 * Streams `source` into the content-addressed store: hashes while writing to a temp
 * file, enforces `maxBytes`, fsyncs, then renames into place. Identical bytes stored
 * before are kept and the new copy dropped (`created: false`). On any failure
 * (limit, aborted or erroring stream, full disk) the temp file is removed and nothing is
 * left behind; the error is a `DatasetError` (`file_too_large`, `upload_aborted`, or
 * `insufficient_storage` when the disk is full).
 */
export async function storeStream(source: AsyncIterable<Uint8Array | string>, options: StoreOptions): Promise<StoredDataset> {
  const { dataDir, maxBytes, signal } = options;
  const tempPath = join(tempDir(dataDir), `${Date.now()}-${randomBytes(8).toString('hex')}.part`);
  const hash = createHash('sha256');
  let file: FileHandle | null = null;
  let bytes = 0;
  try {
    await mkdir(tempDir(dataDir), { recursive: true });
    file = await open(tempPath, 'wx');
    signal?.throwIfAborted();
    for await (const chunk of source) {
      signal?.throwIfAborted();
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      bytes += buf.byteLength;
      if (bytes > maxBytes) {
        throw new DatasetError('file_too_large', `the file is larger than the ${formatBytes(maxBytes)} limit`, {
          maxBytes,
        });
      }
      hash.update(buf);
      await file.write(buf);
    }
    signal?.throwIfAborted();
    await file.sync();
    await file.close();
    file = null;
    const sha256 = hash.digest('hex');
    const finalPath = datasetPath(dataDir, sha256);
    await mkdir(join(finalPath, '..'), { recursive: true });
    const created = !(await exists(finalPath));
    if (created) {
      await rename(tempPath, finalPath);
      await syncDir(join(finalPath, '..'));
    } else {
      await unlink(tempPath);
    }
    return { sha256, bytes, path: finalPath, created };
  } catch (error) {
    await file?.close().catch(() => {});
    await rm(tempPath, { force: true });
    if (error instanceof DatasetError) throw error;
    if (isDiskFullError(error)) {
      throw new DatasetError(
        'insufficient_storage',
        'the server ran out of disk space while storing the file; nothing was stored — try again later',
        {
          cause: (error as NodeJS.ErrnoException).code,
        },
      );
    }
    throw new DatasetError('upload_aborted', 'the upload was interrupted before it completed; nothing was stored', {
      cause: error instanceof Error ? error.message : String(error),
    });
  }
}

/** The stored dataset with this sha256, or a `dataset_missing` error. */
export async function openDataset(dataDir: string, sha256: string): Promise<StoredDataset> {
  const path = datasetPath(dataDir, sha256);
  try {
    const info = await stat(path);
    return { sha256, bytes: info.size, path, created: false };
  } catch {
    throw new DatasetError('dataset_missing', `dataset file ${sha256} is missing from the data folder`);
  }
}

/**
 * Deletes the stored file of `sha256` unless `isReferenced` says a dataset row still
 * points at it. The caller runs this after deleting its row, in the same lock or
 * transaction that makes `isReferenced` reliable. Returns whether a file was removed.
 */
export async function removeIfUnreferenced(
  dataDir: string,
  sha256: string,
  isReferenced: (sha256: string) => Promise<boolean>,
): Promise<boolean> {
  if (await isReferenced(sha256)) return false;
  try {
    await unlink(datasetPath(dataDir, sha256));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Removes temp files left by a crashed process: older than `olderThanMs`, or written before
 * `orphanedBefore` (src/storage/orphans.ts). Returns how many.
 */
export async function sweepTempFiles(dataDir: string, olderThanMs = 60 * 60 * 1000, orphanedBefore = 0): Promise<number> {
  let names: string[];
  try {
    names = await readdir(tempDir(dataDir));
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!name.endsWith('.part')) continue;
    const path = join(tempDir(dataDir), name);
    const info = await stat(path).catch(() => null);
    if (info && (Date.now() - info.mtimeMs > olderThanMs || info.mtimeMs < orphanedBefore)) {
      await rm(path, { force: true });
      removed++;
    }
  }
  return removed;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** fsync a directory so a rename into it survives a power cut. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** "512 MB" style sizes for messages. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${+(n / (1024 * 1024 * 1024)).toFixed(1)} GB`;
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}
