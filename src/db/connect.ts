import path from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Transaction } from 'kysely';
import pg from 'pg';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { PGliteDialect } from 'kysely-pglite-dialect';
import type { Database } from './schema.js';
import { lockDataFolder } from './data-dir-lock.js';
import { createPgNotifier, createPgliteNotifier } from './notifier.js';
import type { Notifier } from './notifier.js';
import type { Logger } from '../log.js';

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the database or a transaction: what a query function runs on. */
export type Queryable = Kysely<Database>;

export interface DatabaseHandle {
  db: Db;
  notifier: Notifier;
  engine: 'postgres' | 'pglite';
  close(): Promise<void>;
}

export interface ConnectOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  log: Logger;
  /** Connections in the pg pool (ignored for PGlite, which has one). */
  poolSize?: number;
}

const INT8_OID = 20;

/**
 * int8 comes back as a string from pg and as a number (or BigInt past 2^53) from PGlite.
 * Both engines are told to parse it to BigInt so money and counters have one type.
 */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => BigInt(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

/** Opens the database: a PostgreSQL server when `databaseUrl` is set, else PGlite in `<dataDir>/db`. */
export async function connectDatabase(opts: ConnectOptions): Promise<DatabaseHandle> {
  if (opts.databaseUrl) return connectServer(opts.databaseUrl, opts.log, opts.poolSize ?? 10);
  return connectEmbedded(path.join(opts.dataDir, 'db'), opts.log);
}

async function connectServer(connectionString: string, log: Logger, max: number): Promise<DatabaseHandle> {
  const pool = new pg.Pool({ connectionString, max, types: pgTypes, application_name: 'tuneloop' });
  pool.on('error', (err) => log.warn({ err }, 'idle database connection failed'));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await sql`select 1`.execute(db);
  const notifier = createPgNotifier(connectionString, log);
  return {
    db,
    notifier,
    engine: 'postgres',
    async close() {
      await notifier.close();
      await db.destroy();
    },
  };
}

async function connectEmbedded(folder: string, log: Logger): Promise<DatabaseHandle> {
  let compromised = false;
  const release = await lockDataFolder(folder, (err) => {
    // Another process took the folder (our lock went stale, e.g. the machine slept):
    // writing on would risk corruption, so stop now.
    compromised = true;
    log.fatal({ err }, 'lost the lock on the embedded database folder; exiting');
    process.exit(70);
  });
  const pglite = new PGlite(folder, {
    parsers: { [pgliteTypes.INT8]: (value: string) => BigInt(value) },
  });
  await pglite.waitReady;
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  const notifier = createPgliteNotifier(pglite, log);
  return {
    db,
    notifier,
    engine: 'pglite',
    async close() {
      await notifier.close();
      await db.destroy();
      if (!pglite.closed) await pglite.close();
      if (!compromised) await release().catch(() => {});
    },
  };
}

/** Sends a NOTIFY that is delivered when `trx` commits (and never if it rolls back). */
export async function notifyOnCommit(trx: Queryable, channel: string, payload: string): Promise<void> {
  await sql`select pg_notify(${channel}, ${payload})`.execute(trx);
}
