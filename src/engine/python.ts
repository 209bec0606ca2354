import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

/** The trainer package's folder (put on PYTHONPATH for every trainer process). */
export const TRAINER_DIR = path.join(PACKAGE_ROOT, 'trainer');

/**
 * Interpreters tried, in order, when TUNELOOP_PYTHON is not set. Debian's python3-torch
 * installs for /usr/bin/python3, while a pyenv or venv `python3` earlier on PATH often has
 * no torch — so the system interpreter is tried first.
 */
const CANDIDATES = ['/usr/bin/python3', 'python3', 'python'];

/** Interpreters already checked, by what was configured ('' = automatic). */
const checked = new Map<string, string>();

export class PythonNotFoundError extends Error {
  readonly code = 'PYTHON_NOT_FOUND';
}

function notFound(configured: string | undefined): PythonNotFoundError {
  return new PythonNotFoundError(
    configured
      ? `TUNELOOP_PYTHON=${configured} cannot import torch (install python3-torch or point it elsewhere)`
      : `no Python interpreter with PyTorch found (tried ${CANDIDATES.join(', ')}); install python3-torch or set TUNELOOP_PYTHON`,
  );
}

/**
 * The Python interpreter that can import torch; throws a one-line error when none can.
 * Synchronous (for the CLI and tests): importing torch takes seconds, so long-running
 * processes use `findPython`, which does not block the event loop. Both remember the answer.
 */
export function resolvePython(configured?: string): string {
  const key = configured ?? '';
  const known = checked.get(key);
  if (known) return known;
  for (const candidate of configured ? [configured] : CANDIDATES) {
    const check = spawnSync(candidate, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 });
    if (check.status === 0) {
      checked.set(key, candidate);
      return candidate;
    }
  }
  throw notFound(configured);
}

function importsTorch(candidate: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(candidate, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}

/** `resolvePython` without blocking the event loop (workers, servers). */
export async function findPython(configured?: string): Promise<string> {
  const key = configured ?? '';
  const known = checked.get(key);
  if (known) return known;
  for (const candidate of configured ? [configured] : CANDIDATES) {
    if (await importsTorch(candidate)) {
      checked.set(key, candidate);
      return candidate;
    }
  }
  throw notFound(configured);
}

/** Environment for a trainer process: the package on PYTHONPATH, unbuffered output. */
export function trainerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const existing = process.env.PYTHONPATH;
  return {
    ...process.env,
    PYTHONPATH: existing ? `${TRAINER_DIR}${path.delimiter}${existing}` : TRAINER_DIR,
    PYTHONUNBUFFERED: '1',
    ...extra,
  };
}

export interface TrainerCommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a short trainer command (init-model, export-onnx, inspect-model) to completion. */
export function runTrainerCommand(
  python: string,
  args: string[],
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<TrainerCommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-m', 'tuneloop_trainer', ...args], {
      env: trainerEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 15 * 60_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The last non-empty line of a process's stderr: trainer commands print one-line errors. */
export function lastLine(text: string): string {
  const lines = text
    .trim()
    .split('\n')
    .filter((l) => l.trim());
  return lines.at(-1)?.trim() ?? '';
}
