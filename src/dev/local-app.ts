import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../app.js';
import type { App, AppOptions } from '../app.js';
import { loadConfig } from '../config.js';
import type { Config } from '../config.js';
import { createLogger } from '../log.js';

/** An api (and worker, if asked) running inside this process, for tests and benchmarks. */
export interface LocalApp {
  app: App;
  url: string;
  config: Config;
  /** Creates an account with a key; balance in micro-USD. */
  account(name?: string, balanceMicros?: bigint, isAdmin?: boolean): Promise<{ accountId: string; apiKey: string }>;
  stop(): Promise<void>;
}

export interface LocalAppOptions {
  worker?: boolean;
  api?: boolean;
  config?: Partial<Config>;
  /** A data folder to use (kept); default a fresh temporary one (removed by stop). */
  dataDir?: string;
  /** A PostgreSQL server database; default the embedded PGlite in the data folder. */
  databaseUrl?: string;
  /** Extra envelop plugins for yoga (tests that watch every operation). */
  graphqlPlugins?: AppOptions['graphqlPlugins'];
}

export async function makeTempDir(label = 'tuneloop-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), label));
}

/** Boots the app on 127.0.0.1, port 0, with silent logs unless TEST_LOG_LEVEL says otherwise. */
export async function startLocalApp(opts: LocalAppOptions = {}): Promise<LocalApp> {
  const dataDir = opts.dataDir ?? (await makeTempDir());
  const config = loadConfig(
    {
      dataDir,
      databaseUrl: opts.databaseUrl,
      host: '127.0.0.1',
      port: 0,
      logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...opts.config,
    },
    {},
  );
  const app = await buildApp({
    config,
    api: opts.api ?? true,
    worker: opts.worker ?? false,
    log: createLogger(config.logLevel),
    ...(opts.graphqlPlugins ? { graphqlPlugins: opts.graphqlPlugins } : {}),
  });
  await app.start();
  return {
    app,
    url: app.url ?? '',
    config,
    async account(name = 'test', balanceMicros = 100_000_000n, isAdmin = false) {
      const created = await app.services.accounts.createAccount({ name, initialBalanceMicros: balanceMicros, isAdmin });
      return { accountId: created.account.id, apiKey: created.apiKey };
    },
    async stop() {
      await app.stop();
      if (!opts.dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
