import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../../src/app.js';
import type { App, AppOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { createTestDatabase } from './db.js';
import type { Engine } from './db.js';

export interface TestApp {
  app: App;
  url: string;
  config: Config;
  engine: Engine;
  /** Creates an account with a key; balance in micro-USD. */
  account(name?: string, balanceMicros?: bigint, isAdmin?: boolean): Promise<{ accountId: string; apiKey: string }>;
  stop(): Promise<void>;
}

export async function makeTempDir(label = 'tuneloop-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), label));
}

/** Boots api (+ worker if asked) in this process on port 0 against a fresh database. */
export async function startTestApp(
  engine: Engine,
  opts: {
    worker?: boolean;
    api?: boolean;
    config?: Partial<Config>;
    dataDir?: string;
    databaseUrl?: string;
    graphqlPlugins?: AppOptions['graphqlPlugins'];
  } = {},
): Promise<TestApp> {
  const dataDir = opts.dataDir ?? (await makeTempDir());
  const database = engine === 'postgres' && !opts.databaseUrl ? await createTestDatabase(path.basename(dataDir)) : undefined;
  const config = loadConfig(
    {
      dataDir,
      databaseUrl: engine === 'postgres' ? (opts.databaseUrl ?? database!.url) : undefined,
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
    engine,
    async account(name = 'test', balanceMicros = 100_000_000n, isAdmin = false) {
      const created = await app.services.accounts.createAccount({ name, initialBalanceMicros: balanceMicros, isAdmin });
      return { accountId: created.account.id, apiKey: created.apiKey };
    },
    async stop() {
      await app.stop();
      await database?.drop();
      if (!opts.dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
