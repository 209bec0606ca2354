import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { BIN } from '../../src/dev/tuneloop-process.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Environment for a CLI process: no DATABASE_URL or TUNELOOP_DATA_DIR unless given (the
 * embedded database is the default), quiet logs as JSON lines, no debug stack traces.
 */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ...extra };
  if (!('DATABASE_URL' in extra)) delete env.DATABASE_URL;
  delete env.TUNELOOP_DEBUG;
  if (!('TUNELOOP_DATA_DIR' in extra)) delete env.TUNELOOP_DATA_DIR;
  return env;
}

/** Options of a CLI process: `bin` runs another entry point than the sources' (the built one). */
export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  bin?: string;
  /** Working directory (default: this process's). */
  cwd?: string;
}

/** Runs `tuneloop ARGS…` to completion; `input` is written to its stdin (else stdin is closed). */
export function runCli(args: string[], opts: CliOptions & { timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [opts.bin ?? BIN, ...args], {
      env: cliEnv(opts.env),
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A `tuneloop` client command running in the background (e.g. `jobs watch`), its output so far. */
export interface BackgroundCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once `stream`'s output so far matches `pattern`. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the result when it exits. */
  result: Promise<CliResult>;
  kill(): Promise<void>;
}

export function startCli(args: string[], opts: CliOptions = {}): BackgroundCli {
  const started = Date.now();
  const child = spawn(process.execPath, [opts.bin ?? BIN, ...args], {
    env: cliEnv(opts.env),
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]!.setEncoding('utf8').on('data', (d: string) => {
      out[stream] += d;
      for (const l of [...listeners]) l();
    });
  }
  const result = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => {
      for (const l of [...listeners]) l();
      resolve({ code, signal, ...out, ms: Date.now() - started });
    }),
  );
  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    result,
    waitFor(stream, pattern, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(out[stream])) {
            done();
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(
              new Error(
                `exited before ${stream} matched ${pattern}; stdout: ${out.stdout.slice(-1000)}; stderr: ${out.stderr.slice(-1000)}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `${stream} did not match ${pattern} within ${timeoutMs} ms; stdout: ${out.stdout.slice(-1000)}; stderr: ${out.stderr.slice(-1000)}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await result;
      }
    },
  };
}

/** Runs `items` through `fn`, at most `limit` at a time (CLI processes are heavy on 2 cores). */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return results;
}

/** A long-running `tuneloop serve|start|worker`, with its JSON log lines. */
export interface ServerProcess {
  child: ChildProcess;
  /** Log lines parsed so far (pino JSON on stdout). */
  logs: Array<Record<string, unknown>>;
  stderr(): string;
  /** Resolves with the first log line `match` accepts. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** SIGKILLs it if still running (cleanup). */
  kill(): Promise<void>;
}

export function startServerProcess(args: string[], opts: CliOptions = {}): ServerProcess {
  const child = spawn(process.execPath, [opts.bin ?? BIN, ...args], {
    env: cliEnv({ LOG_LEVEL: 'info', ...opts.env }),
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters = new Set<{ match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }>();
  let stderr = '';
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      logs.push(line);
      for (const w of waiters) {
        if (!w.match(line)) continue;
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return {
    child,
    logs,
    stderr: () => stderr,
    exited,
    waitForLog(match, timeoutMs = 60_000) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (line: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then(({ code }) => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`process exited with ${code} before the log line; stderr: ${stderr.slice(-2000)}`));
        });
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Waits for `tuneloop serve|start` to listen and returns its URL. */
export async function listeningUrl(server: ServerProcess): Promise<string> {
  const line = await server.waitForLog((l) => l.msg === 'tuneloop api listening', 100_000);
  return String(line.url);
}

/** Asserts the CLI's failure contract: non-zero exit, one line on stderr, no stack trace. */
export function oneLineError(result: CliResult): string {
  const lines = result.stderr.trim().split('\n');
  if (result.code === 0) throw new Error(`expected a failure, got exit 0; stdout: ${result.stdout}`);
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${result.stderr}`);
  if (/\bat .+:\d+:\d+\)?$/m.test(result.stderr)) throw new Error(`stderr has a stack trace:\n${result.stderr}`);
  return lines[0]!;
}
