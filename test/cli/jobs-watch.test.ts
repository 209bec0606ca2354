import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { cliEnv, runCli, startCli } from '../helpers/cli.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { BIN } from '../../src/dev/tuneloop-process.js';
import { qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson, uploadDataset, waitForJob } from '../../src/dev/rest-client.js';

/**
 * `tuneloop jobs watch` on live jobs of a real server (each engine): the exit code says how
 * the job ended (0 SUCCEEDED, 1 FAILED, 2 CANCELLED), a pause is watched through, a dropped
 * connection loses and repeats no step, and on a terminal the bar redraws in place.
 */

/** A TCP relay to the server whose connections the test can cut (and refuse for a while). */
async function relay(target: URL) {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Cuts every open connection and refuses new ones for `ms`. */
    cut(ms: number) {
      refusing = true;
      for (const s of sockets) s.destroy();
      setTimeout(() => (refusing = false), ms);
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe.each(engines())('tuneloop jobs watch (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let datasetId: string;

  /** Starts a FULL fine-tune of the Q&A set for `epochs` epochs; returns its id. */
  async function startJob(epochs: number, extra: Record<string, unknown> = {}, dataset = datasetId): Promise<string> {
    const started = await restJson<{ id: string }>(t.url, key, '/api/fine-tune/training/start', {
      method: 'POST',
      body: JSON.stringify({
        baseModel: 'tiny',
        trainingDataset: dataset,
        method: 'FULL',
        hyperparameters: { epochs, batchSize: 1, learningRate: 0.003, maxSeqLength: 64, checkpointEvery: 4, ...extra },
      }),
    });
    expect(started.status).toBe(201);
    return started.body.id;
  }

  beforeAll(async () => {
    t = await startTestApp(engine, { worker: true });
    await addTinyModel(t);
    key = (await t.account('watcher', 10_000_000n)).apiKey;
    home = await makeTempDir('tuneloop-watch-');
    env = { TUNELOOP_URL: t.url, TUNELOOP_API_KEY: key, XDG_CONFIG_HOME: home };
    datasetId = (await uploadDataset(t.url, key, qaJsonl())).id;
  });
  afterAll(async () => {
    await t?.stop();
    if (home) await fs.rm(home, { recursive: true, force: true });
  });

  it('a failed job: exit 1, its error on stderr', async () => {
    // Every answer lies past 16 tokens of question: the trainer refuses (NO_TRAINABLE_TOKENS).
    const long = qaJsonl(
      Array.from({ length: 12 }, (_v, i) => [`${'Please think very carefully about this long question '.repeat(3)}${i}?`, `A${i}.`]),
    );
    const jobId = await startJob(1, { maxSeqLength: 16 }, (await uploadDataset(t.url, key, long)).id);
    const watched = await runCli(['jobs', 'watch', jobId], { env, timeoutMs: 300_000 });
    expect(watched.code).toBe(1);
    expect(watched.stdout).toMatch(new RegExp(`^${jobId} FAILED at step \\d+`));
    expect(watched.stderr).toMatch(new RegExp(`\\ntuneloop: job ${jobId} failed: .+ \\[NO_TRAINABLE_TOKENS\\]\\n$`));
    const asJson = await runCli(['jobs', 'watch', jobId, '--json'], { env });
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ id: jobId, status: 'FAILED', error: { code: 'NO_TRAINABLE_TOKENS' } });
  });

  it('a paused job is watched through its pause; a cancelled one exits 2', { timeout: 600_000 }, async () => {
    const jobId = await startJob(100);
    const watch = startCli(['jobs', 'watch', jobId], { env });
    try {
      await watch.waitFor('stderr', /^step \d+\/\d+/m);
      const paused = await runCli(['jobs', 'pause', jobId], { env, timeoutMs: 120_000 });
      expect(paused.code, paused.stderr).toBe(0);
      expect(paused.stdout).toMatch(new RegExp(`^${jobId} (PAUSED|RUNNING \\(stopping at the next step\\))\\n$`));
      await watch.waitFor('stderr', new RegExp(`paused at step \\d+; still watching \\(resume it with: tuneloop jobs resume ${jobId}\\)`));
      expect(watch.child.exitCode).toBe(null);

      const resumed = await runCli(['jobs', 'resume', jobId, '--json'], { env });
      expect(JSON.parse(resumed.stdout)).toMatchObject({ id: jobId, status: expect.stringMatching(/QUEUED|RUNNING/) });
      await watch.waitFor('stderr', /paused at step[\s\S]*\nrunning\n/);

      const cancelled = await runCli(['jobs', 'cancel', jobId], { env, timeoutMs: 120_000 });
      expect(cancelled.code, cancelled.stderr).toBe(0);
      expect(cancelled.stdout).toMatch(new RegExp(`^${jobId} (CANCELLED|RUNNING \\(stopping at the next step\\))\\n$`));
      const result = await watch.result;
      expect(result.code, result.stderr).toBe(2);
      expect(result.stdout).toMatch(new RegExp(`^${jobId} CANCELLED at step \\d+/\\d+\\n$`));
    } finally {
      await watch.kill();
    }
  });

  it('--jsonl through a dropped connection: every step exactly once, in order, then the end', { timeout: 600_000 }, async () => {
    const proxy = await relay(new URL(t.url));
    const jobId = await startJob(4);
    const watch = startCli(['jobs', 'watch', jobId, '--jsonl', '--url', proxy.url], { env });
    try {
      await watch.waitFor('stdout', /("type":"step"[^\n]*\n[\s\S]*){3}/);
      // Gone for three seconds: the job goes on meanwhile, and the watcher retries.
      proxy.cut(3_000);
      const result = await watch.result;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/^tuneloop: .*; reconnecting…$/m);
      const events = result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; step: number; status: string; sequence: number });
      const job = await waitForJob(t.url, key, jobId, ['SUCCEEDED']);
      const total = job.progress.totalSteps as number;
      expect(events.filter((e) => e.type === 'step').map((e) => e.step)).toEqual(Array.from({ length: total }, (_v, i) => i + 1));
      const sequences = events.map((e) => e.sequence);
      expect(sequences).toEqual([...new Set(sequences)].sort((a, b) => a - b));
      expect(events[0]).toMatchObject({ type: 'status', status: 'QUEUED' });
      expect(events.at(-1)).toMatchObject({ type: 'status', status: 'SUCCEEDED' });
    } finally {
      await watch.kill();
      await proxy.close();
    }
  });

  // What the terminal shows does not depend on the database: drawn on one engine only.
  it.runIf(engine === 'pglite')(
    'on a terminal: the estimate and a question, then one progress bar redrawn in place, then the result',
    {
      timeout: 600_000,
    },
    async () => {
      // util-linux `script` gives the command a pseudo-terminal (160 columns), passes it what
      // we type, and records what it draws.
      const start = [
        'jobs',
        'start',
        '--model',
        'tiny',
        '--dataset',
        datasetId,
        '--method',
        'full',
        '--epochs',
        '4',
        '--learning-rate',
        '0.003',
        '--watch',
      ];
      const command = `stty cols 160 rows 40; exec '${process.execPath}' '${BIN}' ${start.join(' ')}`;
      const child = spawn('script', ['-qfec', command, '/dev/null'], { env: cliEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
      let raw = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (raw += d));
      child.stdin.end('y\n');
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, raw).toBe(0);
      expect(raw).toMatch(/FULL fine-tune of tiny on ds_\w+:\r\n {2}12 examples × 4 epochs = [\d,]+ tokens\r\n/);
      expect(raw).toContain('Start this job? [y/N] ');
      const jobId = /watching (ftjob_\w+) \(tiny, FULL\): /.exec(raw)![1]!;
      const total = (await waitForJob(t.url, key, jobId, ['SUCCEEDED'])).progress.totalSteps as number;
      // Only the bar redraws: many frames, each of which returns to the start of the same line.
      const lines = raw.split('\n');
      const barLine = lines.find((l) => (l.match(/ \d+\/\d+ · epoch /g) ?? []).length > 2);
      expect(barLine, raw).toBeDefined();
      const frames = barLine!.split('\x1b[1G').filter((f) => / \d+\/\d+ · epoch /.test(f));
      const steps = new Set(frames.map((f) => Number(/ (\d+)\/\d+ · epoch /.exec(f)![1])));
      expect(steps.size).toBeGreaterThanOrEqual(3);
      expect(Math.max(...steps)).toBe(total);
      expect(barLine).toMatch(
        new RegExp(`RUNNING +[█░]+ \\d+/${total} · epoch [\\d.]+ · loss [\\d.]+ [▁▂▃▄▅▆▇█]+ · [\\d,]+ tok/s · ETA \\S+`),
      );
      expect(raw).toContain('\x1b[?25l'); // the cursor hidden while drawing…
      expect(raw).toContain('\x1b[?25h'); // …and shown again
      // Colour on a terminal, and the result after the bar.
      expect(raw).toMatch(new RegExp(`${jobId} \\x1b\\[32mSUCCEEDED\\x1b\\[39m in \\S+: ${total} steps`));
      // A line per message (estimate, question, status, result), none per step.
      expect(total).toBeGreaterThan(20);
      expect(raw.split('\n').length).toBeLessThan(16);
    },
  );
});
