import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const TRAINER = fileURLToPath(new URL('../../trainer', import.meta.url));

/**
 * Runs a Python snippet in the trainer package with `input` as JSON on stdin and
 * returns its stdout parsed as JSON: the trainer's own code (reference BPE encoder,
 * shard reader and writer) checks the TypeScript side independently.
 */
export function runTrainerPython<T>(code: string, input: unknown): T {
  const python = process.env.TUNELOOP_PYTHON ?? '/usr/bin/python3';
  const out = execFileSync(python, ['-c', `import sys, json\nsys.path.insert(0, ${JSON.stringify(TRAINER)})\n${code}`], {
    input: JSON.stringify(input),
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
  });
  return JSON.parse(out) as T;
}
