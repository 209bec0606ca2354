import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import type { Config } from '../../config.js';
import type { Services } from '../../services.js';
import { formatUsd } from '../../errors.js';
import { TINY_MODEL_DEFAULTS, effectiveTrainingDefaults } from '../../catalog/training-defaults.js';
import type { TrainingDefaultsInput } from '../../catalog/training-defaults.js';
import { UsageError, act, intArg, usdArg } from '../command-kit.js';
import type { OutcomeHolder } from '../command-kit.js';
import { dataDirOf } from './server.js';

// The operator's commands: they open the database directly (the data folder or
// DATABASE_URL), so they run on the server's machine, before `start` when the database is
// the embedded one. Client commands (src/client) go through the HTTP API instead.

const DATA_DIR_HELP = 'data folder (default: TUNELOOP_DATA_DIR or ./.tuneloop)';

/** Opens the database and services for a one-shot command, runs `body`, closes. */
async function withServices<T>(config: Config, body: (services: Services) => Promise<T>): Promise<T> {
  const [{ connectDatabase }, { migrateToLatest }, { createLogger }, { createServices }] = await Promise.all([
    import('../../db/connect.js'),
    import('../../db/migrate.js'),
    import('../../log.js'),
    import('../../services.js'),
  ]);
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn', config.logFormat);
  const handle = await connectDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log, poolSize: 2 });
  try {
    await migrateToLatest(handle.db);
    const services = createServices({ config, db: handle.db, notifier: handle.notifier, log });
    try {
      return await body(services);
    } finally {
      await services.close();
    }
  } finally {
    await handle.close();
  }
}

async function initTinyModel(config: Config, outDir: string): Promise<void> {
  const { lastLine, resolvePython, runTrainerCommand } = await import('../../engine/python.js');
  const python = resolvePython(config.python);
  const result = await runTrainerCommand(python, ['init-model', '--size', 'tiny', '--out', outDir]);
  if (result.code !== 0) throw new Error(`init-model failed: ${lastLine(result.stderr) || `exit code ${result.code}`}`);
}

/** accounts create / topup. */
export function registerAccountsCommands(program: Command, holder: OutcomeHolder): void {
  const accounts = program.command('accounts').description('create accounts and add credit');
  accounts
    .command('create')
    .description('create an account; prints {"accountId": "...", "apiKey": "..."}')
    .requiredOption('--name <NAME>', "the account's name")
    .option('--balance <USD>', 'starting credit, e.g. 10 or 2.50', usdArg('balance'))
    .option('--admin', 'an admin account (may top up others, set prices)')
    .option('--data-dir <DIR>', DATA_DIR_HELP)
    .action(
      act(holder, async (opts: { name: string; balance?: bigint; admin?: boolean; dataDir?: string }) => {
        const created = await withServices(loadConfig(dataDirOf(opts)), (s) =>
          s.accounts.createAccount({
            name: opts.name,
            isAdmin: Boolean(opts.admin),
            ...(opts.balance !== undefined ? { initialBalanceMicros: opts.balance } : {}),
          }),
        );
        process.stdout.write(`${JSON.stringify({ accountId: created.account.id, apiKey: created.apiKey })}\n`);
      }),
    );
  accounts
    .command('topup')
    .description('add credit through the ledger; prints the new balance')
    .argument('<ACCOUNT_ID>', 'the account to credit')
    .requiredOption('--amount <USD>', 'how much, e.g. 10 or 2.50', usdArg('amount'))
    .option('--data-dir <DIR>', DATA_DIR_HELP)
    .action(
      act(holder, async (accountId: string, opts: { amount: bigint; dataDir?: string }) => {
        const money = await withServices(loadConfig(dataDirOf(opts)), (s) => s.billing.topUp(accountId, opts.amount, 'top-up (cli)'));
        process.stdout.write(
          `${JSON.stringify({ accountId, balance: formatUsd(money.balanceMicros), available: formatUsd(money.availableMicros) })}\n`,
        );
      }),
    );
}

interface ModelOptions {
  id: string;
  fineTunable?: boolean;
  pricePerMtok?: bigint;
  inferencePricePerMtok?: bigint;
  dataDir?: string;
  learningRateLora?: number;
  learningRateFull?: number;
  targetExamples?: number;
  minEpochs?: number;
  maxEpochs?: number;
  loraRank?: number;
  loraTargetModules?: string[];
}

/** A finite number (the catalog checks its range). */
function numberArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, not "${value}"`);
    return n;
  };
}

/** The training-defaults flags over `base` (the catalog checks the values). */
function trainingDefaultsOf(opts: ModelOptions, base: TrainingDefaultsInput): TrainingDefaultsInput {
  return {
    ...base,
    learningRate: {
      ...base.learningRate,
      ...(opts.learningRateLora !== undefined ? { LORA: opts.learningRateLora } : {}),
      ...(opts.learningRateFull !== undefined ? { FULL: opts.learningRateFull } : {}),
    },
    ...(opts.targetExamples !== undefined ? { targetExamples: opts.targetExamples } : {}),
    ...(opts.minEpochs !== undefined ? { minEpochs: opts.minEpochs } : {}),
    ...(opts.maxEpochs !== undefined ? { maxEpochs: opts.maxEpochs } : {}),
    ...(opts.loraRank !== undefined ? { loraRank: opts.loraRank } : {}),
    ...(opts.loraTargetModules !== undefined ? { loraTargetModules: opts.loraTargetModules } : {}),
  };
}

/** Registers a model folder (made by init-tiny when `dir` is undefined) and prints it. */
async function registerModel(dir: string | undefined, opts: ModelOptions): Promise<void> {
  const config = loadConfig(dataDirOf(opts));
  const tiny = dir === undefined;
  let temp: string | undefined;
  if (dir === undefined) {
    temp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuneloop-tiny-'));
    dir = path.join(temp, 'model');
    await initTinyModel(config, dir);
  }
  try {
    const input = {
      dir,
      id: opts.id,
      fineTunable: Boolean(opts.fineTunable),
      ...(opts.pricePerMtok !== undefined ? { pricePerMTokMicros: opts.pricePerMtok } : {}),
      ...(opts.inferencePricePerMtok !== undefined ? { inferencePricePerMTokMicros: opts.inferencePricePerMtok } : {}),
      // init-tiny starts from defaults that fit the tiny model; import from a pre-trained model's.
      trainingDefaults: trainingDefaultsOf(opts, tiny ? TINY_MODEL_DEFAULTS : {}),
    };
    // A bad folder fails here, before the database is opened (or locked).
    await (await import('../../catalog/service.js')).checkModelImport(input);
    const model = await withServices(config, (s) => s.catalog.importModel(input));
    process.stdout.write(
      `${JSON.stringify({ id: model.id, architecture: model.architecture, parameterCount: Number(model.parameter_count), contextLength: model.context_length, fineTunable: model.fine_tunable, trainingDefaults: effectiveTrainingDefaults(model.training_defaults) })}\n`,
    );
  } finally {
    if (temp) await fs.rm(temp, { recursive: true, force: true });
  }
}

/** models import / init-tiny, added to the `models` group beside the client's `models list`. */
export function registerModelAdminCommands(models: Command, holder: OutcomeHolder): void {
  const withModelOptions = (cmd: Command) =>
    cmd
      .requiredOption('--id <ID>', 'the catalog name to register it under')
      .option('--fine-tunable', 'users may fine-tune it')
      .option('--price-per-mtok <USD>', 'training price per million tokens', usdArg('price-per-mtok'))
      .option('--inference-price-per-mtok <USD>', 'inference price per million tokens', usdArg('inference-price-per-mtok'))
      .option('--data-dir <DIR>', DATA_DIR_HELP)
      // What "auto" hyperparameters start from (docs/training.md, "How auto is decided").
      .optionsGroup("Training defaults (import: a pre-trained model's conservative ones; init-tiny: ones that fit the tiny model):")
      .option('--learning-rate-lora <X>', 'peak learning rate of LoRA fine-tunes', numberArg('learning-rate-lora'))
      .option('--learning-rate-full <X>', 'peak learning rate of full fine-tunes', numberArg('learning-rate-full'))
      .option('--target-examples <N>', 'auto epochs: about this many examples seen in all', intArg('target-examples', 1, 10_000_000))
      .option('--min-epochs <N>', 'auto epochs: at least', intArg('min-epochs', 1, 100))
      .option('--max-epochs <N>', 'auto epochs: at most', intArg('max-epochs', 1, 100))
      .option('--lora-rank <N>', 'auto LoRA rank', intArg('lora-rank', 1, 1024))
      .option('--lora-target-modules <LIST>', 'auto LoRA target modules, comma-separated (or all-linear)', (v: string) =>
        v.split(',').map((m) => m.trim()),
      );
  withModelOptions(
    models
      .command('import')
      .description('register a base model from a Hugging Face–layout folder (operator; opens the database)')
      .argument('<DIR>', 'folder with config.json, *.safetensors, tokenizer.json, tokenizer_config.json'),
  ).action(act(holder, (dir: string, opts: ModelOptions) => registerModel(dir, opts)));
  withModelOptions(
    models.command('init-tiny').description('create and register a small randomly initialised Llama-family model (demos, tests; operator)'),
  ).action(act(holder, (opts: ModelOptions) => registerModel(undefined, opts)));
}
