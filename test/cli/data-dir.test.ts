import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeProfile } from '../../src/client/profile.js';
import { makeTempDir } from '../helpers/app.js';
import { listeningUrl, oneLineError, runCli, startServerProcess } from '../helpers/cli.js';
import type { CliResult, ServerProcess } from '../helpers/cli.js';
import { createTestDatabase, engines } from '../helpers/db.js';

/**
 * `--data-dir DIR` (or TUNELOOP_DATA_DIR) is all a client command needs on the machine of a
 * running `tuneloop start`: the server names its URL in DIR/server.json (mode 0600, removed
 * when it stops cleanly) and a demo folder keeps its key in DIR/demo.json. First found wins:
 * flags, then TUNELOOP_URL / TUNELOOP_API_KEY, then the data folder, then the saved login.
 * A real `tuneloop start --demo` process on each engine.
 */

function jsonOf<T = Record<string, any>>(result: CliResult): T {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** Waits for `file` to appear while `server` runs (the demo is set up after the api listens). */
async function appeared(file: string, server: ServerProcess): Promise<void> {
  for (;;) {
    if (
      await fs.stat(file).then(
        () => true,
        () => false,
      )
    )
      return;
    if (server.child.exitCode !== null) throw new Error(`start exited before writing ${file}: ${server.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.each(engines())('client commands find the server of a data folder (%s)', (engine) => {
  let dataDir: string;
  let home: string;
  let server: ServerProcess;
  let url: string;
  let demo: { accountId: string; apiKey: string };
  let drop: (() => Promise<void>) | undefined;
  let bare: NodeJS.ProcessEnv;
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env: { ...bare, ...env }, timeoutMs: 120_000 });

  beforeAll(async () => {
    dataDir = await makeTempDir('tuneloop-datadir-');
    home = await makeTempDir('tuneloop-datadir-home-');
    const database = engine === 'postgres' ? await createTestDatabase('datadir') : undefined;
    drop = database?.drop;
    // No URL, key, data folder or login from anywhere else.
    bare = { TUNELOOP_URL: '', TUNELOOP_API_KEY: '', XDG_CONFIG_HOME: path.join(home, 'config') };
    server = startServerProcess(['start', '--demo', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
      env: { ...bare, ...(database ? { DATABASE_URL: database.url } : {}) },
    });
    url = await listeningUrl(server);
    await appeared(path.join(dataDir, 'server.json'), server);
    demo = JSON.parse(await fs.readFile(path.join(dataDir, 'demo.json'), 'utf8')) as typeof demo;
  }, 300_000);

  afterAll(async () => {
    await server?.kill();
    await drop?.();
    for (const dir of [dataDir, home]) if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('start names its URL in DIR/server.json, readable by its owner only', async () => {
    const file = path.join(dataDir, 'server.json');
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await fs.readFile(file, 'utf8'))).toMatchObject({ url, pid: server.child.pid });
  });

  it('--data-dir or TUNELOOP_DATA_DIR alone reach the server with the demo key; login saves them', async () => {
    expect(jsonOf(await cli(['account', '--data-dir', dataDir, '--json']))).toMatchObject({ id: demo.accountId });
    expect(jsonOf(await cli(['account', '--json'], { TUNELOOP_DATA_DIR: dataDir }))).toMatchObject({ id: demo.accountId });
    expect(jsonOf(await cli(['datasets', 'list', '--data-dir', dataDir, '--json'])).data).toHaveLength(1);

    const login = jsonOf(await cli(['login', '--data-dir', dataDir, '--json']));
    expect(login).toMatchObject({ url, accountId: demo.accountId });
    expect(JSON.parse(await fs.readFile(String(login.profile), 'utf8'))).toEqual({ url, apiKey: demo.apiKey });
    await fs.rm(path.join(home, 'config'), { recursive: true });
  });

  it('flags, then the environment, then the data folder, then the saved login', async () => {
    // A saved login for another server: the data folder comes first.
    await writeProfile({ url: 'http://127.0.0.1:9', apiKey: 'tl_saved' }, { XDG_CONFIG_HOME: path.join(home, 'config') });
    expect(jsonOf(await cli(['account', '--data-dir', dataDir, '--json']))).toMatchObject({ id: demo.accountId });

    // TUNELOOP_API_KEY comes before the folder's key (and is refused here)…
    const envKey = await cli(['account', '--data-dir', dataDir], { TUNELOOP_API_KEY: 'tl_wrong' });
    expect(oneLineError(envKey)).toMatch(/refused the API key.*\[UNAUTHENTICATED\]$/);
    // …and --api-key before TUNELOOP_API_KEY.
    const flagKey = await cli(['account', '--data-dir', dataDir, '--api-key', demo.apiKey, '--json'], { TUNELOOP_API_KEY: 'tl_wrong' });
    expect(jsonOf(flagKey)).toMatchObject({ id: demo.accountId });
    // TUNELOOP_URL comes before the folder's URL, and the folder's key is not sent elsewhere.
    expect(oneLineError(await cli(['account', '--data-dir', dataDir], { TUNELOOP_URL: 'http://127.0.0.1:1' }))).toMatch(
      /^tuneloop: no API key/,
    );

    // TUNELOOP_DATA_DIR on a folder no server runs on is passed over: the saved login is used.
    const empty = await makeTempDir('tuneloop-datadir-empty-');
    try {
      const passedOver = await cli(['account'], { TUNELOOP_DATA_DIR: empty });
      expect(oneLineError(passedOver)).toMatch(/127\.0\.0\.1:9.*is it running/);
      // --data-dir on such a folder says so.
      expect(oneLineError(await cli(['account', '--data-dir', empty]))).toBe(
        `tuneloop: no tuneloop is running on the data folder ${empty} (a running \`tuneloop start\` names its URL in ${path.join(empty, 'server.json')}): start it with \`tuneloop start --data-dir ${empty}\`, or pass --url`,
      );
    } finally {
      await fs.rm(empty, { recursive: true, force: true });
      await fs.rm(path.join(home, 'config'), { recursive: true });
    }
  });

  it('a clean stop removes server.json; a file left by a process that is gone is ignored', { timeout: 120_000 }, async () => {
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    await expect(fs.stat(path.join(dataDir, 'server.json'))).rejects.toThrow(/ENOENT/);
    await expect(fs.stat(path.join(dataDir, 'demo.json'))).resolves.toBeTruthy();
    expect(oneLineError(await cli(['account', '--data-dir', dataDir]))).toMatch(/^tuneloop: no tuneloop is running on the data folder/);

    // As a killed server leaves it: its process no longer exists.
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const stale = { url, pid: Number(gone.stdout), hostname: os.hostname(), startedAt: new Date().toISOString() };
    await fs.writeFile(path.join(dataDir, 'server.json'), JSON.stringify(stale), { mode: 0o600 });
    expect(oneLineError(await cli(['account', '--data-dir', dataDir]))).toMatch(/^tuneloop: no tuneloop is running on the data folder/);
  });
});
