import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, startTestApp } from './app.js';
import type { TestApp } from './app.js';
import type { Engine } from './db.js';
import { connectDatabase } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createLogger } from '../../src/log.js';

/**
 * A fresh data folder whose embedded database is already created and migrated.
 *
 * Why: creating a PGlite database (initdb) and migrating it costs ≈ 8 s of CPU on our
 * 2-core machines — most of what a test file's setup costs. The folder is made once per
 * state of `migrations/` and the PGlite version, shared by the test files of a run (built
 * under a temporary name and renamed, like tinyModelFolder), and copied (≈ 40 MB) into each
 * new data folder: still one private database per test file.
 */
export async function migratedDataDir(label = 'tuneloop-test-'): Promise<string> {
  const template = await migratedTemplate();
  const dataDir = await makeTempDir(label);
  await fs.cp(template, path.join(dataDir, 'db'), { recursive: true });
  return dataDir;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

async function templateKey(): Promise<string> {
  const hash = createHash('sha256');
  const dir = path.join(ROOT, 'migrations');
  for (const name of (await fs.readdir(dir)).sort()) hash.update(name).update(await fs.readFile(path.join(dir, name)));
  hash.update(JSON.parse(await fs.readFile(path.join(ROOT, 'node_modules', '@electric-sql', 'pglite', 'package.json'), 'utf8')).version);
  return hash.digest('hex').slice(0, 16);
}

let cached: Promise<string> | undefined;

function migratedTemplate(): Promise<string> {
  cached ??= (async () => {
    const cache = path.join(os.tmpdir(), 'tuneloop-test-pglite');
    const template = path.join(cache, await templateKey());
    if (
      await fs.stat(path.join(template, 'PG_VERSION')).then(
        () => true,
        () => false,
      )
    )
      return template;
    await fs.mkdir(cache, { recursive: true });
    const building = await fs.mkdtemp(path.join(cache, '.building-'));
    const folder = path.join(building, 'db');
    const handle = await connectDatabase({ databaseUrl: undefined, dataDir: building, log: createLogger('silent') });
    try {
      await migrateToLatest(handle.db);
    } finally {
      await handle.close();
    }
    await fs.rename(folder, template).catch(async (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
    await fs.rm(building, { recursive: true, force: true });
    return template;
  })();
  return cached;
}

/**
 * startTestApp on a fresh database: on PGlite a copy of the migrated template (see
 * migratedDataDir), removed again by `stop`; on the server a new database as usual.
 */
export async function startFreshApp(engine: Engine, opts: Parameters<typeof startTestApp>[1] = {}): Promise<TestApp> {
  if (engine !== 'pglite' || opts.dataDir) return startTestApp(engine, opts);
  const dataDir = await migratedDataDir();
  const t = await startTestApp(engine, { ...opts, dataDir });
  return {
    ...t,
    async stop() {
      await t.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
