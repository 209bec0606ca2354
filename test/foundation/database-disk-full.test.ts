import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { gql } from '../helpers/clients.js';
import { engines } from '../helpers/db.js';
import { mountTmpfs, tmpfsUnavailable } from '../helpers/tmpfs.js';
import { TopUpAccountDocument } from '../generated/graphql.js';

/**
 * A write that finds the database's disk full (PostgreSQL `disk_full`, 53100) is
 * INSUFFICIENT_STORAGE on every transport — REST 507, a GraphQL payload's typed error —
 * not a masked internal error, and it leaves nothing half-written.
 *
 * The full disk is real: the ledger table is moved into a tablespace on a small tmpfs
 * that is then filled, so the next insert cannot extend the table's file. PostgreSQL
 * server only: the embedded engine (PGlite) writes its WAL into the data folder, and a
 * full WAL disk stops the embedded database as a whole (a server would stop too); the
 * data-folder writes of both engines are covered by test/datasets/disk-full.test.ts.
 */
const serverOnly = engines().filter((e) => e === 'postgres');
describe.skipIf(tmpfsUnavailable !== null || serverOnly.length === 0)('a write that finds the database disk full (postgres)', () => {
  let t: TestApp;
  let root: string;
  let unmount: (() => void) | undefined;
  let client: pg.Client;
  const tablespace = `tl_full_${randomBytes(4).toString('hex')}`;
  let admin: { accountId: string; apiKey: string };
  let target: { accountId: string; apiKey: string };

  beforeAll(async () => {
    root = await makeTempDir('tuneloop-dbfull-');
    const disk = join(root, 'disk');
    unmount = mountTmpfs(disk, '1m');
    for (const dir of [root, disk]) await chmod(dir, 0o755); // the server runs as postgres
    await mkdir(join(disk, 'tablespace'));
    execFileSync('chown', ['postgres:postgres', join(disk, 'tablespace')]);
    t = await startTestApp('postgres');
    admin = await t.account('admin', 0n, true);
    target = await t.account('target', 0n);
    client = new pg.Client({ connectionString: t.config.databaseUrl });
    await client.connect();
    await client.query(`create tablespace ${tablespace} location '${join(disk, 'tablespace')}'`);
    await client.query(`alter table ledger_entries set tablespace ${tablespace}`);
    expect((await client.query('select count(*)::int as n from ledger_entries')).rows[0].n).toBe(0);
    // Fill the disk to the last block: the empty table's file cannot grow by one page.
    await writeFile(join(disk, 'filler'), Buffer.alloc(2 << 20)).catch(() => {});
  }, 60_000);

  afterAll(async () => {
    await client?.end();
    await t?.stop(); // drops the database, and with it the table in the tablespace
    const c = new pg.Client({ connectionString: t?.config.databaseUrl?.replace(/\/[^/]*$/, '/postgres') });
    await c.connect();
    await c.query(`drop tablespace if exists ${tablespace}`).finally(() => c.end());
    unmount?.();
    await rm(root, { recursive: true, force: true });
  });

  const balance = async () =>
    (await client.query('select balance_micros::text as b from accounts where id = $1', [target.accountId])).rows[0].b;

  it('answers REST with 507 INSUFFICIENT_STORAGE and GraphQL with a typed INSUFFICIENT_STORAGE error, keeping nothing', async () => {
    const rest = await fetch(`${t.url}/api/accounts/${target.accountId}/topup`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: '1.00' }),
    });
    const problem = (await rest.json()) as { code: string; detail: string };
    expect([rest.status, problem.code]).toEqual([507, 'INSUFFICIENT_STORAGE']);
    expect(problem.detail).toMatch(/ran out of disk space/);

    const viaGql = await gql(t.url, admin.apiKey, TopUpAccountDocument, { input: { accountId: target.accountId, amount: '1.00' } });
    expect(viaGql.errors).toBeUndefined();
    expect(viaGql.data?.topUpAccount).toEqual({
      account: null,
      errors: [{ code: 'INSUFFICIENT_STORAGE', message: expect.stringMatching(/ran out of disk space/) }],
    });
    expect(await balance()).toBe('0');
  });

  it('writes again once space is freed', async () => {
    await rm(join(root, 'disk', 'filler'));
    const viaGql = await gql(t.url, admin.apiKey, TopUpAccountDocument, { input: { accountId: target.accountId, amount: '1.00' } });
    expect(viaGql.data?.topUpAccount.errors).toEqual([]);
    expect(await balance()).toBe('1000000');
  });
});
