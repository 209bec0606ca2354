import type { Command } from 'commander';
import { removeServerFile, writeServerFile } from '../../client/local-server.js';
import { loadConfig } from '../../config.js';
import type { Config } from '../../config.js';
import { act, intArg } from '../command-kit.js';
import type { OutcomeHolder } from '../command-kit.js';
import { offerDemoProfile, printDemo } from '../demo-banner.js';

// Everything heavier (the app, the database drivers, GraphQL, onnxruntime) is imported by
// the action that needs it: `--help` or a usage error answers in a fraction of a second
// instead of the ≈ 3 s of CPU it takes to load the whole service on our machines.

/** The api's port is taken: printed as one line (what to do included), exit code 1. */
class PortInUseError extends Error {
  readonly code = 'PORT_IN_USE';
  constructor(port: number) {
    super(`port ${port} is already in use (another tuneloop?): stop that process, or choose a free port with --port N or PORT=N`);
  }
}

/** `--data-dir DIR` as a config override. */
export const dataDirOf = (opts: { dataDir?: string }): Partial<Config> => (opts.dataDir ? { dataDir: opts.dataDir } : {});

/** How a process runs: its roles, `--demo`, and whether it names its URL in the data folder. */
interface ProcessOptions {
  api: boolean;
  worker: boolean;
  demo: boolean;
  /** Write `<dataDir>/server.json` while running (`start`; replicas of `serve` would overwrite one another's). */
  serverFile: boolean;
}

async function runProcess(config: Config, opts: ProcessOptions): Promise<void> {
  const { buildApp } = await import('../../app.js');
  const app = await buildApp({ config, api: opts.api, worker: opts.worker });
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) process.exit(130);
    signalled = true;
    app.services.log.info({ signal }, 'shutting down');
    app
      .stop()
      .then(() => (opts.serverFile ? removeServerFile(config.dataDir) : undefined))
      .then(
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
  const url = app.url ?? `http://127.0.0.1:${config.port}`;
  if (opts.demo) {
    const { setupDemo } = await import('../../demo.js');
    const info = await setupDemo(app.services);
    // Named after the demo is ready, so a client that finds the URL also finds the key.
    if (opts.serverFile) await writeServerFile(config.dataDir, url);
    printDemo(url, info);
    await offerDemoProfile(url, info, config.dataDir);
  } else if (opts.serverFile) {
    await writeServerFile(config.dataDir, url);
  }
}

/** start, serve, worker, migrate: the processes of a Tuneloop installation. */
export function registerServerCommands(program: Command, holder: OutcomeHolder): void {
  for (const name of ['start', 'serve'] as const) {
    const cmd = program
      .command(name)
      .description(name === 'start' ? 'run the api and a worker in one process' : 'run the api alone')
      .option('--port <N>', 'port to listen on (default: PORT or 4000)', intArg('port', 0, 65535))
      .option('--host <HOST>', 'address to listen on (default: HOST or 0.0.0.0)')
      .option('--data-dir <DIR>', 'data folder (default: TUNELOOP_DATA_DIR or ./.tuneloop)');
    if (name === 'start') {
      cmd.option('--demo', 'also create a demo account, the tiny model and a sample dataset, and print how to use them');
    }
    cmd.action(
      act(holder, async (opts: { port?: number; host?: string; dataDir?: string; demo?: boolean }) => {
        const config = loadConfig({
          ...dataDirOf(opts),
          ...(opts.port !== undefined ? { port: opts.port } : {}),
          ...(opts.host ? { host: opts.host } : {}),
        });
        await runProcess(config, { api: true, worker: name === 'start', demo: Boolean(opts.demo), serverFile: name === 'start' });
        return 'running';
      }),
    );
  }

  program
    .command('worker')
    .description('run a training worker alone')
    .option('--concurrency <N>', 'jobs this worker runs at once (default: TUNELOOP_WORKER_CONCURRENCY or 1)', intArg('concurrency', 1, 64))
    .option('--data-dir <DIR>', 'data folder (default: TUNELOOP_DATA_DIR or ./.tuneloop)')
    .action(
      act(holder, async (opts: { concurrency?: number; dataDir?: string }) => {
        const config = loadConfig({
          ...dataDirOf(opts),
          ...(opts.concurrency !== undefined ? { workerConcurrency: opts.concurrency } : {}),
        });
        await runProcess(config, { api: false, worker: true, demo: false, serverFile: false });
        return 'running';
      }),
    );

  program
    .command('migrate')
    .description('apply database migrations and exit')
    .option('--data-dir <DIR>', 'data folder (default: TUNELOOP_DATA_DIR or ./.tuneloop)')
    .action(
      act(holder, async (opts: { dataDir?: string }) => {
        const config = loadConfig(dataDirOf(opts));
        const [{ connectDatabase }, { migrateToLatest }, { createLogger }] = await Promise.all([
          import('../../db/connect.js'),
          import('../../db/migrate.js'),
          import('../../log.js'),
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
      }),
    );
}
