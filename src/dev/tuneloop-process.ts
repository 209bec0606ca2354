import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * `tuneloop` from the TypeScript sources (bin/tuneloop-dev.js), so tests and benchmarks run
 * the current code without a build; test/build/dist.test.ts covers the built bin/tuneloop.js.
 */
export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'tuneloop-dev.js');

export interface TuneloopProcess {
  child: ChildProcess;
  /** Set for api processes once they listen. */
  url: string | undefined;
  logs: Array<Record<string, unknown>>;
  /** Resolves with the first log line matching `predicate`. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Spawns `tuneloop <args>` as a real separate process (JSON logs parsed from stdout). */
export function spawnTuneloop(args: string[], env: NodeJS.ProcessEnv): TuneloopProcess {
  // TUNELOOP_NODE_ARGS adds node flags to the spawned process (e.g. --cpu-prof for benches).
  const nodeArgs = (env.TUNELOOP_NODE_ARGS ?? process.env.TUNELOOP_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', LOG_FORMAT: 'json', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ predicate: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-5000)));
  const proc: TuneloopProcess = {
    child,
    url: undefined,
    logs,
    waitForLog(predicate, timeoutMs = 60_000) {
      const found = logs.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
    exited: new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      }),
    ),
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      parsed = { msg: line };
    }
    logs.push(parsed);
    if (typeof parsed.url === 'string' && parsed.msg === 'tuneloop api listening') proc.url = parsed.url;
    for (const waiter of [...waiters]) {
      if (waiter.predicate(parsed)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(parsed);
      }
    }
  });
  return proc;
}

/** Starts `tuneloop serve` and waits until it listens. */
export async function startServe(env: NodeJS.ProcessEnv): Promise<TuneloopProcess & { url: string }> {
  const proc = spawnTuneloop(['serve'], env);
  await proc.waitForLog((l) => l.msg === 'tuneloop api listening');
  return proc as TuneloopProcess & { url: string };
}

/** Starts `tuneloop worker` and waits until it is ready to claim. */
export async function startWorker(env: NodeJS.ProcessEnv, concurrency = 1): Promise<TuneloopProcess> {
  const proc = spawnTuneloop(['worker', '--concurrency', String(concurrency)], env);
  await proc.waitForLog((l) => l.msg === 'training worker started');
  return proc;
}

/** Runs a one-shot CLI command and returns its stdout (throws on a non-zero exit). */
export async function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`tuneloop ${args.join(' ')} exited ${code}: ${stderr.trim()}`);
  return stdout;
}
