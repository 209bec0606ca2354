import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Services } from './services.js';
import { findPython, lastLine, runTrainerCommand } from './engine/python.js';
import { TINY_MODEL_DEFAULTS } from './catalog/training-defaults.js';
import { DEMO_FILE } from './client/local-server.js';

export interface DemoInfo {
  accountId: string;
  apiKey: string;
  modelId: string;
  datasetId: string | null;
}

const DEMO_MODEL = 'tiny-demo';

/** A sample chat dataset the tiny model learns within a few minutes on a laptop CPU. */
export const DEMO_EXAMPLES: Array<[string, string]> = [
  ['What is Tuneloop?', 'A self-hostable platform for fine-tuning language models.'],
  ['What is the capital of France?', 'Paris.'],
  ['What color is the sky on a clear day?', 'Blue.'],
  ['How many legs does a spider have?', 'Eight.'],
  ['What is 2 + 2?', '4.'],
  ['Who wrote Hamlet?', 'William Shakespeare.'],
  ['What is H2O?', 'Water.'],
  ['Which planet is called the red planet?', 'Mars.'],
  ['What is the largest ocean?', 'The Pacific Ocean.'],
  ['How many days are in a week?', 'Seven.'],
  ['What do bees make?', 'Honey.'],
  ['What is frozen water called?', 'Ice.'],
  ['Which animal barks?', 'A dog.'],
  ['What is the opposite of hot?', 'Cold.'],
  ['How many hours are in a day?', 'Twenty-four.'],
  ['What gas do plants take in?', 'Carbon dioxide.'],
];

export function demoJsonl(): string {
  return `${DEMO_EXAMPLES.map(([q, a]) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: q },
        { role: 'assistant', content: a },
      ],
    }),
  ).join('\n')}\n`;
}

/**
 * `tuneloop start --demo`: a demo account with credit, the tiny fine-tunable model and a
 * sample dataset — created once per data folder and reused on the next start (the key
 * is kept in `<dataDir>/demo.json`, on the operator's own machine, so it can be shown again).
 */
export async function setupDemo(services: Services): Promise<DemoInfo> {
  const stateFile = path.join(services.config.dataDir, DEMO_FILE);
  const saved = await fs
    .readFile(stateFile, 'utf8')
    .then((text) => JSON.parse(text) as DemoInfo)
    .catch(() => undefined);
  const existing = await services.catalog.findModel('', DEMO_MODEL);
  // A demo model registered before models carried training defaults gets the tiny model's.
  if (existing && existing.training_defaults === null) await services.catalog.setTrainingDefaults(DEMO_MODEL, TINY_MODEL_DEFAULTS);
  if (saved && (await services.accounts.authenticate(`Bearer ${saved.apiKey}`))) return saved;

  if (!existing) {
    const temp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuneloop-demo-'));
    try {
      const dir = path.join(temp, 'model');
      const result = await runTrainerCommand(await findPython(services.config.python), ['init-model', '--size', 'tiny', '--out', dir]);
      if (result.code !== 0) throw new Error(`could not create the demo model: ${lastLine(result.stderr)}`);
      await services.catalog.importModel({
        dir,
        id: DEMO_MODEL,
        fineTunable: true,
        pricePerMTokMicros: 1_000_000n,
        inferencePricePerMTokMicros: 100_000n,
        trainingDefaults: TINY_MODEL_DEFAULTS,
      });
    } finally {
      await fs.rm(temp, { recursive: true, force: true });
    }
  }
  const created = await services.accounts.createAccount({ name: 'demo', initialBalanceMicros: 100_000_000n });
  const dataset = await services.datasets.createFromStream(created.account.id, Readable.from([Buffer.from(demoJsonl())]), {
    filename: 'demo-qa.jsonl',
    model: DEMO_MODEL,
  });
  const info: DemoInfo = { accountId: created.account.id, apiKey: created.apiKey, modelId: DEMO_MODEL, datasetId: dataset.id };
  await fs.writeFile(stateFile, JSON.stringify(info, null, 2), { mode: 0o600 });
  return info;
}
