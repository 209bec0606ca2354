import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { lastLine, resolvePython, runTrainerCommand } from '../engine/python.js';
import { tinyModelFolder } from './tiny-model-folder.js';

const CACHE = path.join(os.tmpdir(), 'tuneloop-test-models');

/**
 * The shared tiny model folder with its ONNX export (`onnx/model.onnx`), made once per
 * run by the real trainer (tests and benchmarks share it); importing it keeps the export,
 * so deploys skip exporting.
 */
export async function onnxModelFolder(opts: { size?: string; seed?: number } = {}): Promise<string> {
  const source = await tinyModelFolder(opts);
  const dir = `${source}-onnx`;
  if (
    await fs.stat(path.join(dir, 'onnx', 'model.onnx')).then(
      () => true,
      () => false,
    )
  )
    return dir;
  await fs.mkdir(CACHE, { recursive: true });
  const temp = await fs.mkdtemp(path.join(CACHE, '.building-onnx-'));
  const out = path.join(temp, 'model');
  await fs.cp(source, out, { recursive: true });
  const result = await runTrainerCommand(resolvePython(process.env.TUNELOOP_PYTHON), ['export-onnx', '--model', out]);
  if (result.code !== 0) throw new Error(`export-onnx failed: ${lastLine(result.stderr)}`);
  await fs.rename(out, dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
  });
  await fs.rm(temp, { recursive: true, force: true });
  return dir;
}
