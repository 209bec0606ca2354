import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolvePython, runTrainerCommand, lastLine } from '../engine/python.js';

const CACHE = path.join(os.tmpdir(), 'tuneloop-test-models');

/**
 * A freshly initialised model folder from the real trainer CLI (`init-model`), built once
 * per size/seed and shared by the test files of a run (created under a temporary name and
 * renamed, so concurrent files never see half a folder). Returns a private copy when
 * `copy` is set, for tests that modify the folder.
 */
export async function tinyModelFolder(opts: { size?: string; seed?: number; arch?: string; copy?: boolean } = {}): Promise<string> {
  const size = opts.size ?? 'tiny';
  const seed = opts.seed ?? 0;
  const arch = opts.arch ?? 'llama';
  const dir = path.join(CACHE, `${size}-${arch}-${seed}`);
  const ready = await fs.stat(path.join(dir, 'config.json')).then(
    () => true,
    () => false,
  );
  if (!ready) {
    await fs.mkdir(CACHE, { recursive: true });
    const temp = await fs.mkdtemp(path.join(CACHE, '.building-'));
    const out = path.join(temp, 'model');
    const python = resolvePython(process.env.TUNELOOP_PYTHON);
    const result = await runTrainerCommand(python, ['init-model', '--size', size, '--arch', arch, '--seed', String(seed), '--out', out]);
    if (result.code !== 0) throw new Error(`init-model failed: ${lastLine(result.stderr)}`);
    await fs.rename(out, dir).catch(async (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
    await fs.rm(temp, { recursive: true, force: true });
  }
  if (!opts.copy) return dir;
  const copy = await fs.mkdtemp(path.join(os.tmpdir(), 'tuneloop-model-'));
  await fs.cp(dir, copy, { recursive: true });
  return copy;
}
