import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on the module `entry` names as `./x.js`, wherever the service runs
 * from. Built (`dist/`), `x.js` is there and the thread starts on it with no loader at all.
 * From TypeScript sources (tsx in development, vitest in tests) only `x.ts` exists, and a
 * thread does not inherit the parent's module hooks, so the thread first registers tsx
 * (≈ 0.7 s on our machines) and then imports `x.ts`. tsx is resolved only then: production
 * needs neither tsx nor any TypeScript loader.
 */
export function startWorkerThread(entry: URL, options: WorkerOptions = {}): Worker {
  const source = entry.pathname.endsWith('.js') && !existsSync(fileURLToPath(entry)) ? new URL(entry.href.replace(/\.js$/, '.ts')) : entry;
  if (!source.pathname.endsWith('.ts')) return new Worker(source, options);
  const bootstrap = `import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(source.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

function tsxApiUrl(): string {
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  const mjs = cjs.replace(/\.cjs$/, '.mjs');
  return pathToFileURL(existsSync(mjs) ? mjs : cjs).href;
}
