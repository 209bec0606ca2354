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

  it('registers training defaults: conservative unless given for import, fitting ones for init-tiny', async () => {
    const registered = async (...args: string[]) => {
      const result = await runCli(['models', ...args, '--data-dir', dataDir]);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout).trainingDefaults;
    };
    expect(await registered('import', variants.single, '--id', 'cli-plain')).toEqual({
      learningRate: { LORA: 2e-4, FULL: 2e-5 },
      targetExamples: 100,
      minEpochs: 1,
      maxEpochs: 10,
      loraRank: 8,
      loraTargetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    });
    expect(await registered('import', variants.single, '--id', 'cli-tuned', '--learning-rate-full', '1e-4', '--min-epochs', '2')).toEqual({
      learningRate: { LORA: 2e-4, FULL: 1e-4 },
      targetExamples: 100,
      minEpochs: 2,
      maxEpochs: 10,
      loraRank: 8,
      loraTargetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    });
    expect(await registered('init-tiny', '--id', 'cli-init-tiny', '--fine-tunable', '--max-epochs', '30')).toEqual({
      learningRate: { LORA: 1e-3, FULL: 2e-3 },
      targetExamples: 4000,
      minEpochs: 10,
      maxEpochs: 30,
      loraRank: 32,
      loraTargetModules: ['all-linear'],
    });
    expect(
      await registered('import', variants.single, '--id', 'cli-lora', '--lora-rank', '16', '--lora-target-modules', 'q_proj,v_proj'),
    ).toMatchObject({ loraRank: 16, loraTargetModules: ['q_proj', 'v_proj'] });

    const refused = (...args: string[]) => runCli(['models', 'import', variants.single, '--id', 'cli-bad', ...args, '--data-dir', dataDir]);
    const notANumber = await refused('--learning-rate-lora', 'fast');
    expect(oneLineError(notANumber)).toBe('tuneloop: --learning-rate-lora must be a number, not "fast"');
    expect(notANumber.code).toBe(2);
    const inverted = await refused('--min-epochs', '20', '--max-epochs', '10');
    expect(oneLineError(inverted)).toBe('tuneloop: minEpochs (20) exceeds maxEpochs (10)');
    expect(inverted.code).toBe(1);
    const unknownModule = await refused('--lora-target-modules', 'q_proj,mlp');
    expect(oneLineError(unknownModule)).toBe(
      'tuneloop: trainingDefaults.loraTargetModules must be a non-empty list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, all-linear',
    );
    expect(unknownModule.code).toBe(1);
  });
});
