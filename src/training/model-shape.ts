import fs from 'node:fs/promises';
import path from 'node:path';
import type { Model } from '../db/schema.js';
import { effectiveTrainingDefaults } from '../catalog/training-defaults.js';
import type { ModelShape } from './hyperparameter-table.js';

/** What hyperparameter resolution needs of a model: context, hidden size (from its config.json) and training defaults. */
export async function modelShape(model: Model): Promise<ModelShape> {
  return {
    contextLength: model.context_length,
    ...(await readHiddenSize(model).then((hiddenSize) => (hiddenSize ? { hiddenSize } : {}))),
    defaults: effectiveTrainingDefaults(model.training_defaults),
  };
}

async function readHiddenSize(model: Model): Promise<number | undefined> {
  try {
    const config = JSON.parse(await fs.readFile(path.join(model.storage_path, 'config.json'), 'utf8')) as { hidden_size?: number };
    return config.hidden_size;
  } catch {
    return undefined;
  }
}
