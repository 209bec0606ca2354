import { parentPort, workerData } from 'node:worker_threads';
import { startWorkerThread } from '../start-worker-thread.js';
import { DatasetError, asDatasetError } from './dataset-error.js';
import type { DatasetErrorCode } from './dataset-error.js';

type WorkerReply<T> =
  | { ok: true; value: T }
  | { ok: false; error: { name: string; message: string; code?: string; details?: Record<string, unknown> } };

/**
 * Runs the module at `entry` (a file that calls `serveWorker`) in a worker thread with
 * `data` as its input and resolves with its answer (`startWorkerThread` says how a thread
 * starts from sources and from the build; callers only use workers for inputs worth it).
 * A `DatasetError` (or `TokenizerError`) thrown in the worker is rethrown here with its code.
 */
export function runInWorker<T>(entry: URL, data: unknown, signal?: AbortSignal): Promise<T> {
  const worker = startWorkerThread(entry, { workerData: data });
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      void worker.terminate();
      finish(() => reject(signal?.reason ?? new Error('aborted')));
    };
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (reply: WorkerReply<T>) => {
      void worker.terminate();
      if (reply.ok) return finish(() => resolve(reply.value));
      const { name, message, code, details } = reply.error;
      const error =
        name === 'DatasetError' && code ? new DatasetError(code as DatasetErrorCode, message, details ?? {}) : new Error(message);
      finish(() => reject(error));
    });
    worker.once('error', (error) => finish(() => reject(error)));
    worker.once('exit', (code) => finish(() => reject(new Error(`dataset worker exited with code ${code} before answering`))));
  });
}

/**
 * The body of a worker entry module: runs `handler` on the worker's input and posts the
 * result (typed arrays found at the top level of the result are transferred, not copied).
 */
export function serveWorker<I, O>(handler: (input: I) => Promise<O>): void {
  if (!parentPort) throw new Error('serveWorker must run in a worker thread');
  const port = parentPort;
  handler(workerData as I).then(
    (value) => {
      const views = Object.values(value as object).filter((v): v is Uint32Array => ArrayBuffer.isView(v));
      const transfer = [...new Set(views.map((v) => v.buffer as ArrayBuffer))];
      port.postMessage({ ok: true, value } satisfies WorkerReply<O>, transfer);
    },
    (error: unknown) => {
      const e = asDatasetError(error) ?? (error instanceof Error ? error : new Error(String(error)));
      const reply: WorkerReply<O> = {
        ok: false,
        error: {
          name: e.name,
          message: e.message,
          code: (e as DatasetError).code,
          details: (e as DatasetError).details as Record<string, unknown> | undefined,
        },
      };
      port.postMessage(reply);
    },
  );
}
