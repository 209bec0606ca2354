import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import { createTestDatabase, engines } from '../helpers/db.js';
import type { Engine } from '../helpers/db.js';
import { migratedDataDir } from '../helpers/data-dir.js';
import { listeningUrl, mapLimit, oneLineError, runCli, startServerProcess } from '../helpers/cli.js';

/** Where a CLI process finds the database: a data folder (PGlite) or DATABASE_URL. */
interface Target {
  dataDir: string;
  env: NodeJS.ProcessEnv;
  databaseUrl: string | undefined;
  drop(): Promise<void>;
}

async function newTarget(engine: Engine): Promise<Target> {
  const dataDir = await makeTempDir('tuneloop-cli-');
  const database = engine === 'postgres' ? await createTestDatabase('cli') : undefined;
  return {
    dataDir,
    env: database ? { DATABASE_URL: database.url } : {},
    databaseUrl: database?.url,
    async drop() {
      await database?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

describe.each(engines())('tuneloop accounts and migrate (%s)', (engine) => {
  let target: Target;
  beforeAll(async () => {
    target = await newTarget(engine);
  });
  afterAll(async () => target?.drop());

  it('migrate applies every migration once, then nothing', async () => {
    const first = await runCli(['migrate', '--data-dir', target.dataDir], { env: target.env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const applied = (JSON.parse(first.stdout) as { applied: string[] }).applied;
    expect(applied.length).toBeGreaterThan(0);
    expect(applied[0]).toBe('0001-accounts-and-catalog');
    expect([...applied].sort()).toEqual(applied);

    const again = await runCli(['migrate', '--data-dir', target.dataDir], { env: target.env });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ applied: [] });
  });

  it('accounts create prints exactly {accountId, apiKey}; the key works; topup adds credit', async () => {
    const created = await runCli(['accounts', 'create', '--name', 'cli user', '--balance', '2.5', '--data-dir', target.dataDir], {
      env: target.env,
    });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    // One line, one JSON object, exactly these two keys.
    expect(created.stdout.endsWith('\n')).toBe(true);
    expect(created.stdout.trim().split('\n')).toHaveLength(1);
    const body = JSON.parse(created.stdout) as Record<string, string>;
    expect(Object.keys(body)).toEqual(['accountId', 'apiKey']);
    expect(body.accountId).toMatch(/^acct_[0-9a-z]{26}$/);
    expect(body.apiKey).toMatch(/^tl_[A-Za-z0-9]{40}$/);

    const topup = await runCli(['accounts', 'topup', body.accountId!, '--amount', '10', '--data-dir', target.dataDir], { env: target.env });
    expect(topup.stderr).toBe('');
    expect(topup.code).toBe(0);
    expect(JSON.parse(topup.stdout)).toMatchObject({ accountId: body.accountId, balance: '12.500000', available: '12.500000' });

    // The key authenticates against the same database.
    const t = await startTestApp(engine, { dataDir: target.dataDir, ...(target.databaseUrl ? { databaseUrl: target.databaseUrl } : {}) });
    try {
      const response = await fetch(`${t.url}/api/account`, { headers: { authorization: `Bearer ${body.apiKey}` } });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ id: body.accountId, name: 'cli user', balance: '12.500000', isAdmin: false });
    } finally {
      await t.app.stop();
    }
  });

  it('topup of an unknown account fails with one line', async () => {
    const result = await runCli(['accounts', 'topup', 'acct_doesnotexist', '--amount', '1', '--data-dir', target.dataDir], {
      env: target.env,
    });
    expect(oneLineError(result)).toMatch(/^tuneloop: .*acct_doesnotexist.*not found/i);
  });
});

describe('tuneloop bad arguments', () => {
  // [args, what the one line must say]; none of these reaches a database.
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command "frobnicate"/],
    [['accounts', 'create'], /needs --name NAME/],
    [['accounts', 'create', '--name', 'x', '--balance', 'lots'], /--balance must be a USD amount/],
    [['accounts', 'create', '--name', 'x', '--balance', '-5'], /--balance/],
    [['accounts', 'create', '--name', 'x', '--color', 'red'], /--color/],
    [['accounts', 'topup', 'acct_x'], /needs --amount USD/],
    [['accounts', 'topup', '--amount', '5'], /needs ACCOUNT_ID/],
    [['accounts', 'delete'], /accounts create\|topup/],
    [['models', 'import', '--id', 'm'], /needs the model folder DIR/],
    [['models', 'import', '/tmp', '--id', 'm', '--price-per-mtok', 'free'], /--price-per-mtok must be a USD amount/],
    [['serve', '--port', 'eighty'], /--port must be an integer/],
    [['migrate', 'now'], /Unexpected argument 'now'/],
  ];

  it('exit non-zero with one line naming the problem, no stack trace', async () => {
    const results = await mapLimit(cases, 3, ([args]) => runCli(args, { env: { TUNELOOP_DATA_DIR: '/nonexistent/never-created' } }));
    results.forEach((result, i) => {
      const [args, says] = cases[i]!;
      const line = oneLineError(result);
      expect(line, args.join(' ')).toMatch(/^tuneloop: /);
      expect(line, args.join(' ')).toMatch(says);
      expect(result.code, args.join(' ')).toBe(2);
    });
  });
});

describe('the embedded data folder is held by one process', () => {
  it('a second process fails at once with a clear message while `serve` runs; the folder works after', async () => {
    const dataDir = await migratedDataDir('tuneloop-lock-');
    const server = startServerProcess(['serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir]);
    try {
      const url = await listeningUrl(server);
      const second = await runCli(['accounts', 'create', '--name', 'intruder', '--data-dir', dataDir]);
      const line = oneLineError(second);
      expect(line).toMatch(/in use by another tuneloop process/);
      expect(line).toContain(dataDir);
      expect(line).toMatch(/DATABASE_URL/);
      expect(second.code).toBe(1);
      // "At once": no waiting on the lock (process start-up is most of this).
      expect(second.ms).toBeLessThan(15_000);
      // The holder is unharmed.
      expect((await fetch(`${url}/readyz`)).status).toBe(200);

      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
      // Released on exit: the next process opens it.
      const after = await runCli(['accounts', 'create', '--name', 'after', '--data-dir', dataDir]);
      expect(after.stderr).toBe('');
      expect(after.code).toBe(0);
    } finally {
      await server.kill();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
