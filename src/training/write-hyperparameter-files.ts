/**
 * `npm run generate:hyperparameters`: writes what the hyperparameter table generates into
 * files that live outside TypeScript — trainer/hyperparameters.schema.json (the trainer
 * validates job specs with it) and the table in docs/training.md (between its
 * `hyperparameters:begin` / `end` markers). test/training/hyperparameter-table.test.ts
 * fails when either is stale.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hyperparametersMarkdownTable, trainerHyperparametersSchema } from './hyperparameter-schemas.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TRAINER_SCHEMA_PATH = path.join(ROOT, 'trainer', 'hyperparameters.schema.json');
export const TRAINING_DOC_PATH = path.join(ROOT, 'docs', 'training.md');
const BEGIN = '<!-- hyperparameters:begin (generated from src/training/hyperparameter-table.ts) -->';
const END = '<!-- hyperparameters:end -->';

/** docs/training.md with its generated table replaced by `table`. */
export function withDocTable(doc: string, table: string): string {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`docs/training.md lacks the markers ${BEGIN} … ${END}`);
  return `${doc.slice(0, begin + BEGIN.length)}\n\n${table}\n\n${doc.slice(end)}`;
}

async function main(): Promise<void> {
  await fs.writeFile(TRAINER_SCHEMA_PATH, `${JSON.stringify(trainerHyperparametersSchema(), null, 2)}\n`);
  const doc = await fs.readFile(TRAINING_DOC_PATH, 'utf8');
  await fs.writeFile(TRAINING_DOC_PATH, withDocTable(doc, hyperparametersMarkdownTable()));
  process.stdout.write(`wrote ${path.relative(ROOT, TRAINER_SCHEMA_PATH)} and the table in ${path.relative(ROOT, TRAINING_DOC_PATH)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
