/**
 * The machine's memory bandwidth as a copy benchmark measures it: each of `threads` worker
 * threads copies a buffer much larger than any cache into another (`TypedArray.set`, a
 * memcpy), all at once. Bytes moved count the read and the write (as STREAM's Copy does).
 * Benchmarks print it next to the bandwidth a decoder achieves reading its weights.
 */
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const src = new Float64Array(workerData.bytes / 8).fill(1);
const dst = new Float64Array(workerData.bytes / 8);
dst.set(src); // touch every page before timing
parentPort.postMessage('ready');
parentPort.once('message', () => {
  const t0 = performance.now();
  for (let i = 0; i < workerData.repeats; i++) dst.set(src);
  parentPort.postMessage(performance.now() - t0);
});
`;

export interface Bandwidth {
  /** Bytes read plus bytes written per second, all threads together. */
  copyBytesPerS: number;
  threads: number;
}

/** Median over `rounds` of every thread copying `mb` MiB `repeats` times at once. */
export async function copyBandwidth(opts: { threads: number; mb?: number; repeats?: number; rounds?: number }): Promise<Bandwidth> {
  const bytes = (opts.mb ?? 256) * 1024 * 1024;
  const repeats = opts.repeats ?? 8;
  const results: number[] = [];
  for (let round = 0; round < (opts.rounds ?? 3); round++) {
    const workers = Array.from({ length: opts.threads }, () => new Worker(WORKER, { eval: true, workerData: { bytes, repeats } }));
    try {
      await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
      const times = await Promise.all(
        workers.map(
          (w) =>
            new Promise<number>((resolve) => {
              w.once('message', resolve);
              w.postMessage('go');
            }),
        ),
      );
      results.push((2 * bytes * repeats * opts.threads) / (Math.max(...times) / 1000));
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  }
  return { copyBytesPerS: [...results].sort((a, b) => a - b)[Math.floor((results.length - 1) / 2)]!, threads: opts.threads };
}
