import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/app.js';
import { createTestDatabase, engines } from '../helpers/db.js';
import type { Engine } from '../helpers/db.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { runCli, spawnTuneloop } from '../../src/dev/tuneloop-process.js';
import type { TuneloopProcess } from '../../src/dev/tuneloop-process.js';
import { chatJsonl } from '../helpers/datasets-api.js';

/**
 * Prompt recovery after a crash, with a real `kill -9` of a real `tuneloop start`: the
 * restart right after it takes the data folder at once (the dead holder's lock is broken,
 * not waited out), and the validation the dead process was running is picked up within
 * seconds of its heartbeat lease lapsing — not after a fixed 10-minute lease.
 */
describe.each(engines())('crash recovery (%s)', (engine: Engine) => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let drop: (() => Promise<void>) | undefined;
  let apiKey: string;
  const running: TuneloopProcess[] = [];

  beforeAll(async () => {
    dataDir = await makeTempDir('tuneloop-crash-');
    env = { TUNELOOP_DATA_DIR: dataDir, LOG_LEVEL: 'info' };
    if (engine === 'postgres') {
      const database = await createTestDatabase('crash');
      env.DATABASE_URL = database.url;
      drop = database.drop;
    }
    ({ apiKey } = JSON.parse(await runCli(['accounts', 'create', '--name', 'crash'], env)) as { apiKey: string });
    await runCli(['models', 'import', await tinyModelFolder(), '--id', 'tiny', '--fine-tunable'], env);
  }, 180_000);

  afterAll(async () => {
    for (const p of running) {
      p.kill('SIGKILL');
      await p.exited;
    }
    await drop?.();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function start(): Promise<TuneloopProcess & { url: string }> {
    const proc = spawnTuneloop(['start', '--port', '0'], env);
    running.push(proc);
    const outcome = await Promise.race([
      proc.waitForLog((l) => l.msg === 'tuneloop api listening', 90_000).then(() => 'listening'),
      proc.exited.then(({ code }) => `exited with code ${code}`),
    ]);
    expect(outcome).toBe('listening');
    return proc as TuneloopProcess & { url: string };
  }

  it('restarts at once after kill -9 and resumes the interrupted validation within seconds', async () => {
    let proc = await start();
    // Large enough that validating it (rendering and tokenizing every example) takes seconds.
    const body = chatJsonl(60_000, ' a line long enough to make validating this file take a few seconds of work');
    const upload = await fetch(`${proc.url}/api/datasets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/jsonl' },
      body,
    });
    const dataset = (await upload.json()) as { id: string; status: string };
    expect([upload.status, dataset.status]).toEqual([201, 'VALIDATING']);
    proc.kill('SIGKILL');
    expect((await proc.exited).signal).toBe('SIGKILL');

    const restarted = Date.now();
    proc = await start();
    const deadline = Date.now() + 120_000;
    let current: { status: string; validatedAt: string | null; examples: number | null };
    for (;;) {
      const response = await fetch(`${proc.url}/api/datasets/${dataset.id}`, { headers: { authorization: `Bearer ${apiKey}` } });
      current = (await response.json()) as typeof current;
      if (current.status !== 'VALIDATING' || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(current.status).toBe('READY');
    expect(current.examples).toBe(60_000);
    // Validated by the new process: the first one died in the middle of it.
    expect(new Date(current.validatedAt!).getTime()).toBeGreaterThan(restarted);
    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
  }, 300_000);
});
