import fs from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, startLocalApp } from '../../src/dev/local-app.js';
import type { LocalApp } from '../../src/dev/local-app.js';
import type { AppOptions } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { createTestDatabase } from './db.js';
import type { Engine } from './db.js';

export { makeTempDir };

export interface TestApp extends LocalApp {
  engine: Engine;
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
  const local = await startLocalApp({
    ...opts,
    dataDir,
    databaseUrl: engine === 'postgres' ? (opts.databaseUrl ?? database!.url) : undefined,
  });
  return {
    ...local,
    engine,
    async stop() {
      await local.stop();
      await database?.drop();
      if (!opts.dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
