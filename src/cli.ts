import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { loadConfig } from './config.js';
import type { Config } from './config.js';
import type { App } from './app.js';
import type { Services } from './services.js';
import { DomainError, formatUsd, parseUsd } from './errors.js';
import { TINY_MODEL_DEFAULTS, effectiveTrainingDefaults } from './catalog/training-defaults.js';
import type { TrainingDefaultsInput } from './catalog/training-defaults.js';

// Everything heavier (the app, the database drivers, GraphQL, onnxruntime) is imported by
// the command that needs it: a usage error or `--help` answers in a fraction of a second
// instead of the ≈ 3 s of CPU it takes to load the whole service on our machines.

/** A bad invocation: printed as one line, exit code 2. */
class UsageError extends Error {}

/** The api's port is taken: printed as one line (what to do included), exit code 1. */
class PortInUseError extends Error {
  readonly code = 'PORT_IN_USE';
  constructor(port: number) {
    super(`port ${port} is already in use (another tuneloop?): stop that process, or choose a free port with --port N or PORT=N`);
  }
}

const USAGE = `usage: tuneloop <command> [options]

  start [--port N] [--host H] [--data-dir DIR] [--demo]   api + worker in one process
  serve [--port N] [--host H] [--data-dir DIR]            the api alone
  worker [--concurrency N] [--data-dir DIR]               a trainer worker alone
  migrate [--data-dir DIR]                                apply migrations and exit
  accounts create --name NAME [--balance USD] [--admin]   prints {"accountId","apiKey"}
  accounts topup ACCOUNT_ID --amount USD
  models import DIR --id ID [--fine-tunable] [--price-per-mtok USD] [--inference-price-per-mtok USD] [DEFAULTS]
  models init-tiny --id ID [--fine-tunable] [--price-per-mtok USD] [DEFAULTS]
      DEFAULTS, what "auto" hyperparameters start from (docs/training.md):
      [--learning-rate-lora X] [--learning-rate-full X] [--target-examples N] [--min-epochs N] [--max-epochs N]
      (import: a pre-trained model's conservative defaults; init-tiny: ones that fit the tiny model)

Environment: DATABASE_URL (absent = embedded PGlite in DIR/db), PORT, TUNELOOP_DATA_DIR,
TUNELOOP_PYTHON, TUNELOOP_WEBHOOK_ALLOW_PRIVATE=1, TUNELOOP_DATASET_ROOTS, LOG_LEVEL,
LOG_FORMAT=pretty|json (default: pretty on a terminal).`;

const common = { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...common, ...options }, allowPositionals: positionals > 0, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
  return parsed;
}

function intFlag(value: string | boolean | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

function usdFlag(value: string | boolean | undefined, name: string): bigint | undefined {
  if (value === undefined) return undefined;
  try {
    return parseUsd(String(value), name);
  } catch {
    throw new UsageError(`--${name} must be a USD amount such as 10 or 2.50`);
  }
}

function numberFlag(value: string | boolean | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number`);
  return n;
}

const defaultsOptions = {
  'learning-rate-lora': { type: 'string' },
  'learning-rate-full': { type: 'string' },
  'target-examples': { type: 'string' },
  'min-epochs': { type: 'string' },
  'max-epochs': { type: 'string' },
} as const;

/** The training-defaults flags over `base` (the catalog checks the values). */
function defaultsFlags(values: Record<string, string | boolean | undefined>, base: TrainingDefaultsInput): TrainingDefaultsInput {
  const lora = numberFlag(values['learning-rate-lora'], 'learning-rate-lora');
  const full = numberFlag(values['learning-rate-full'], 'learning-rate-full');
  const targetExamples = intFlag(values['target-examples'], 'target-examples', 1, 10_000_000);
  const minEpochs = intFlag(values['min-epochs'], 'min-epochs', 1, 100);
  const maxEpochs = intFlag(values['max-epochs'], 'max-epochs', 1, 100);
  return {
    ...base,
    learningRate: { ...base.learningRate, ...(lora !== undefined ? { LORA: lora } : {}), ...(full !== undefined ? { FULL: full } : {}) },
    ...(targetExamples !== undefined ? { targetExamples } : {}),
    ...(minEpochs !== undefined ? { minEpochs } : {}),
    ...(maxEpochs !== undefined ? { maxEpochs } : {}),
  };
}

/** Opens the database and services for a one-shot command, runs `body`, closes. */
async function withServices<T>(config: Config, body: (services: Services) => Promise<T>): Promise<T> {
  const [{ connectDatabase }, { migrateToLatest }, { createLogger }, { createServices }] = await Promise.all([
    import('./db/connect.js'),
    import('./db/migrate.js'),
    import('./log.js'),
    import('./services.js'),
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

async function runProcess(config: Config, roles: { api: boolean; worker: boolean }, demo: boolean): Promise<void> {
  const { buildApp } = await import('./app.js');
  const app: App = await buildApp({ config, ...roles });
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) {
      process.exit(130);
    }
    signalled = true;
    app.services.log.info({ signal }, 'shutting down');
    app.stop().then(
      () => process.exit(0),
      (err) => {
        app.services.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    await app.start();
  } catch (err) {
    await app.stop().catch(() => {});
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new PortInUseError(config.port);
  }
  if (demo) {
    const { setupDemo } = await import('./demo.js');
    const info = await setupDemo(app.services);
    process.stdout.write(
      [
        '',
        'Tuneloop demo is ready.',
        `  URL:      ${app.url}`,
        `  Console:  ${app.url}/   (sign in with the API key below)`,
        `  GraphiQL: ${app.url}/graphql   (opened from the console it carries the key; otherwise add the header {"Authorization": "Bearer ${info.apiKey}"})`,
        `  API key:  ${info.apiKey}`,
        `  Account:  ${info.accountId}`,
        `  Model:    ${info.modelId}`,
        `  Dataset:  ${info.datasetId ?? '(none)'}`,
        '',
        'Start a fine-tune (auto hyperparameters; README.md walks through the rest):',
        `  curl -s ${app.url}/api/fine-tune/training/start -H 'authorization: Bearer ${info.apiKey}' -H 'content-type: application/json' \\`,
        `    -H "idempotency-key: $(date +%s%N)" -d '{"baseModel": "${info.modelId}", "trainingDataset": "${info.datasetId}", "method": "FULL"}'`,
        '',
        '',
      ].join('\n'),
    );
  }
}

async function initTinyModel(config: Config, outDir: string): Promise<void> {
  const { lastLine, resolvePython, runTrainerCommand } = await import('./engine/python.js');
  const python = resolvePython(config.python);
  const result = await runTrainerCommand(python, ['init-model', '--size', 'tiny', '--out', outDir]);
  if (result.code !== 0) throw new Error(`init-model failed: ${lastLine(result.stderr) || `exit code ${result.code}`}`);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  const sub = rest[0] && !rest[0].startsWith('-') ? rest[0] : undefined;

  switch (command) {
    case 'start':
    case 'serve': {
      const { values } = parse(rest, {
        port: { type: 'string' },
        host: { type: 'string' },
        ...(command === 'start' ? { demo: { type: 'boolean' } } : {}),
      });
      const port = intFlag(values.port, 'port', 0, 65535);
      const config = loadConfig({
        ...(values['data-dir'] ? { dataDir: values['data-dir'] as string } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(values.host ? { host: values.host as string } : {}),
      });
      await runProcess(config, { api: true, worker: command === 'start' }, Boolean((values as { demo?: boolean }).demo));
      return -1; // keeps running
    }
    case 'worker': {
      const { values } = parse(rest, { concurrency: { type: 'string' } });
      const concurrency = intFlag(values.concurrency, 'concurrency', 1, 64);
      const config = loadConfig({
        ...(values['data-dir'] ? { dataDir: values['data-dir'] as string } : {}),
        ...(concurrency !== undefined ? { workerConcurrency: concurrency } : {}),
      });
      await runProcess(config, { api: false, worker: true }, false);
      return -1;
    }
    case 'migrate': {
      const { values } = parse(rest, {});
      const config = loadConfig(values['data-dir'] ? { dataDir: values['data-dir'] as string } : {});
      const [{ connectDatabase }, { migrateToLatest }, { createLogger }] = await Promise.all([
        import('./db/connect.js'),
        import('./db/migrate.js'),
        import('./log.js'),
      ]);
      const handle = await connectDatabase({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        log: createLogger('warn', config.logFormat),
      });
      try {
        const applied = await migrateToLatest(handle.db);
        process.stdout.write(`${JSON.stringify({ applied })}\n`);
      } finally {
        await handle.close();
      }
      return 0;
    }
    case 'accounts': {
      if (sub === 'create') {
        const { values } = parse(rest.slice(1), { name: { type: 'string' }, balance: { type: 'string' }, admin: { type: 'boolean' } });
        if (!values.name) throw new UsageError('accounts create needs --name NAME');
        const balance = usdFlag(values.balance, 'balance');
        if (balance !== undefined && balance < 0n) throw new UsageError('--balance cannot be negative');
        const config = loadConfig(values['data-dir'] ? { dataDir: values['data-dir'] as string } : {});
        const created = await withServices(config, (s) =>
          s.accounts.createAccount({
            name: values.name as string,
            isAdmin: Boolean(values.admin),
            ...(balance !== undefined ? { initialBalanceMicros: balance } : {}),
          }),
        );
        process.stdout.write(`${JSON.stringify({ accountId: created.account.id, apiKey: created.apiKey })}\n`);
        return 0;
      }
      if (sub === 'topup') {
        const { values, positionals } = parse(rest.slice(1), { amount: { type: 'string' } }, 1);
        const accountId = positionals[0];
        if (!accountId) throw new UsageError('accounts topup needs ACCOUNT_ID');
        const amount = usdFlag(values.amount, 'amount');
        if (amount === undefined) throw new UsageError('accounts topup needs --amount USD');
        const config = loadConfig(values['data-dir'] ? { dataDir: values['data-dir'] as string } : {});
        const money = await withServices(config, (s) => s.billing.topUp(accountId, amount, 'top-up (cli)'));
        process.stdout.write(
          `${JSON.stringify({ accountId, balance: formatUsd(money.balanceMicros), available: formatUsd(money.availableMicros) })}\n`,
        );
        return 0;
      }
      throw new UsageError('usage: tuneloop accounts create|topup …');
    }
    case 'models': {
      if (sub === 'import' || sub === 'init-tiny') {
        const isImport = sub === 'import';
        const { values, positionals } = parse(
          rest.slice(1),
          {
            id: { type: 'string' },
            'fine-tunable': { type: 'boolean' },
            'price-per-mtok': { type: 'string' },
            'inference-price-per-mtok': { type: 'string' },
            ...defaultsOptions,
          },
          isImport ? 1 : 0,
        );
        if (isImport && !positionals[0]) throw new UsageError('models import needs the model folder DIR');
        if (!values.id) throw new UsageError(`models ${sub} needs --id ID`);
        const price = usdFlag(values['price-per-mtok'], 'price-per-mtok');
        const inferencePrice = usdFlag(values['inference-price-per-mtok'], 'inference-price-per-mtok');
        const trainingDefaults = defaultsFlags(values, isImport ? {} : TINY_MODEL_DEFAULTS);
        const config = loadConfig(values['data-dir'] ? { dataDir: values['data-dir'] as string } : {});
        let dir = positionals[0] as string | undefined;
        let temp: string | undefined;
        if (!isImport) {
          temp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuneloop-tiny-'));
          dir = path.join(temp, 'model');
          await initTinyModel(config, dir);
        }
        try {
          const input = {
            dir: dir as string,
            id: values.id as string,
            fineTunable: Boolean(values['fine-tunable']),
            ...(price !== undefined ? { pricePerMTokMicros: price } : {}),
            ...(inferencePrice !== undefined ? { inferencePricePerMTokMicros: inferencePrice } : {}),
            trainingDefaults,
          };
          // A bad folder fails here, before the database is opened (or locked).
          await (await import('./catalog/service.js')).checkModelImport(input);
          const model = await withServices(config, (s) => s.catalog.importModel(input));
          process.stdout.write(
            `${JSON.stringify({ id: model.id, architecture: model.architecture, parameterCount: Number(model.parameter_count), contextLength: model.context_length, fineTunable: model.fine_tunable, trainingDefaults: effectiveTrainingDefaults(model.training_defaults) })}\n`,
          );
        } finally {
          if (temp) await fs.rm(temp, { recursive: true, force: true });
        }
        return 0;
      }
      throw new UsageError('usage: tuneloop models import|init-tiny …');
    }
    default:
      throw new UsageError(`unknown command "${command}" (see tuneloop --help)`);
  }
}

/** Entry point: every failure is one line on stderr and a non-zero exit code. */
export async function run(argv: string[]): Promise<void> {
  try {
    const code = await main(argv);
    if (code >= 0) process.exit(code);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tuneloop: ${message.split('\n')[0]}\n`);
    if (!(err instanceof UsageError || err instanceof DomainError || (err as { code?: string }).code) && process.env.TUNELOOP_DEBUG) {
      process.stderr.write(`${(err as Error).stack}\n`);
    }
    process.exit(err instanceof UsageError ? 2 : 1);
  }
}
