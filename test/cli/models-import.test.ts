import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDataDir } from '../helpers/data-dir.js';
import { buildModelVariants } from '../helpers/model-variants.js';
import type { ModelVariants } from '../helpers/model-variants.js';
import { mapLimit, oneLineError, runCli } from '../helpers/cli.js';

describe('tuneloop models import', () => {
  let variants: ModelVariants;
  let dataDir: string;

  beforeAll(async () => {
    variants = await buildModelVariants();
    dataDir = await migratedDataDir('tuneloop-cli-models-');
  });
  afterAll(async () => {
    await variants?.remove();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('refuses each broken folder: non-zero exit, one line naming the problem', async () => {
    const results = await mapLimit(variants.refusals, 3, (r) =>
      runCli(['models', 'import', r.dir, '--id', r.id, ...(r.fineTunable ? ['--fine-tunable'] : []), '--data-dir', dataDir]),
    );
    results.forEach((result, i) => {
      const refusal = variants.refusals[i]!;
      const line = oneLineError(result);
      expect(line, refusal.name).toMatch(/^tuneloop: /);
      expect(line, refusal.name).toMatch(refusal.message);
      expect(result.code, refusal.name).toBe(1);
    });
    // The folder is checked before the database is opened: a bad folder leaves nothing behind.
    expect(await fs.readdir(dataDir)).toEqual(['db']);
  });

  it('imports a sharded folder, prints the model, and refuses the same id again', async () => {
    const first = await runCli([
      'models',
      'import',
      variants.sharded,
      '--id',
      'cli-tiny',
      '--fine-tunable',
      '--price-per-mtok',
      '1.25',
      '--data-dir',
      dataDir,
    ]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ id: 'cli-tiny', architecture: 'llama', contextLength: 512, fineTunable: true });
    expect((await fs.readdir(path.join(dataDir, 'models', 'cli-tiny'))).filter((n) => n.endsWith('.safetensors'))).toHaveLength(3);

    const again = await runCli(['models', 'import', variants.single, '--id', 'cli-tiny', '--data-dir', dataDir]);
    expect(oneLineError(again)).toBe('tuneloop: a model with id "cli-tiny" already exists');
    expect(again.code).toBe(1);
  });
});
