import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { oneLineError, runCli } from '../helpers/cli.js';
import type { CliResult } from '../helpers/cli.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { QA, qaJsonl } from '../../src/dev/qa-dataset.js';
import { restJson } from '../../src/dev/rest-client.js';

/**
 * The client commands against a real server (api + worker + trainer + onnxruntime, on each
 * engine), as a person or a script runs them: `tuneloop login`, `account`, `datasets`,
 * `models list`, `jobs start|watch|show|list`, `deploy`, `chat`. The commands know only the
 * server's URL and a key; everything goes over HTTP.
 */

/** stdout as the one JSON document `--json` promises (and a zero exit). */
function jsonOf<T = Record<string, any>>(result: CliResult): T {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describe.each(engines())('client commands (%s)', (engine) => {
  let t: TestApp;
  let key: string;
  let accountId: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  /** The model the first test fine-tunes; the DPO test continues from it. */
  let sftModel = '';
  const cli = (args: string[], extra: NodeJS.ProcessEnv = {}, input?: string) =>
    runCli(args, { env: { ...env, ...extra }, timeoutMs: 400_000, ...(input !== undefined ? { input } : {}) });

  beforeAll(async () => {
    t = await startTestApp(engine, { worker: true });
    await addTinyModel(t);
    ({ apiKey: key, accountId } = await t.account('cli user', 10_000_000n));
    home = await makeTempDir('tuneloop-client-');
    env = { TUNELOOP_URL: t.url, TUNELOOP_API_KEY: key, XDG_CONFIG_HOME: path.join(home, 'config') };
  });
  afterAll(async () => {
    await t?.stop();
    if (home) await fs.rm(home, { recursive: true, force: true });
  });

  it('login checks the key and saves it for its owner only; later commands need nothing else', async () => {
    const bare = { TUNELOOP_URL: '', TUNELOOP_API_KEY: '' };
    const profile = path.join(home, 'config', 'tuneloop', 'profile.json');

    const noKey = await cli(['account'], bare);
    expect(oneLineError(noKey)).toBe('tuneloop: no API key: pass --api-key KEY, set TUNELOOP_API_KEY, or run `tuneloop login` once');

    const wrong = await cli(['login', '--url', t.url, '--api-key', 'tl_wrong'], bare);
    expect(oneLineError(wrong)).toBe(
      'tuneloop: the server refused the API key: check --api-key, TUNELOOP_API_KEY or `tuneloop login` [UNAUTHENTICATED]',
    );
    await expect(fs.stat(profile)).rejects.toThrow(/ENOENT/);

    // The key from standard input, as a script would pass it.
    const login = jsonOf(await cli(['login', '--url', `${t.url}/`, '--json'], bare, `${key}\n`));
    expect(login).toEqual({ url: t.url, accountId, name: 'cli user', profile });
    expect((await fs.stat(profile)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.dirname(profile))).mode & 0o777).toBe(0o700);
    expect(JSON.parse(await fs.readFile(profile, 'utf8'))).toEqual({ url: t.url, apiKey: key });

    const account = jsonOf(await cli(['account', '--json'], bare));
    expect(account).toMatchObject({ id: accountId, balance: '10.000000', available: '10.000000' });
    const human = await cli(['account'], bare);
    expect(human.stdout).toMatch(/cli user \(acct_\w+\)\n\s+balance\s+\$10\.00\n\s+reserved\s+\$0\.00\n\s+available\s+\$10\.00\n$/);
    // The saved key is never sent to another server than the one it was saved for.
    expect(oneLineError(await cli(['account', '--url', 'http://127.0.0.1:9'], bare))).toMatch(/no API key/);
  });

  it('datasets upload prints the validation report (READY, or INVALID with line numbers and exit 1); list and show', async () => {
    const good = path.join(home, 'qa.jsonl');
    await fs.writeFile(good, qaJsonl());
    const uploaded = jsonOf(await cli(['datasets', 'upload', good, '--json']));
    expect(uploaded).toMatchObject({ status: 'READY', filename: 'qa.jsonl', examples: QA.length, errorCount: 0 });

    const other = path.join(home, 'qa-reversed.jsonl');
    await fs.writeFile(other, qaJsonl(QA.map(([q, a]) => [a, q])));
    const human = await cli(['datasets', 'upload', other]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(
      /^ds_\w+ {2}READY {2}qa-reversed\.jsonl {2}[\d.]+ (bytes|KB)\n {2}12 chat examples, \d+ tokens \(\d+ trained on, longest example \d+\)\n$/,
    );

    const bad = path.join(home, 'bad.jsonl');
    const lines = [...qaJsonl().trim().split('\n').slice(0, 10), 'this is not json', '{"messages": [{"role": "wizard", "content": "hi"}]}'];
    await fs.writeFile(bad, `${lines.join('\n')}\n`);
    const invalid = await cli(['datasets', 'upload', bad]);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toMatch(/INVALID {2}bad\.jsonl/);
    expect(invalid.stdout).toMatch(/^ {2}line 11: not valid JSON.*\[invalid_json\]$/m);
    expect(invalid.stdout).toMatch(/^ {2}line 12: .*"wizard".*\[unrecognized_role at messages\[0\]\.role\]$/m);
    const invalidJson = await cli(['datasets', 'upload', bad, '--json']);
    expect(invalidJson.code).toBe(1);
    expect(JSON.parse(invalidJson.stdout).errors.map((e: { line: number }) => e.line)).toEqual(expect.arrayContaining([11, 12]));

    const list = jsonOf<{ data: Array<{ id: string; status: string }> }>(await cli(['datasets', 'list', '--json']));
    expect(list.data.map((d) => d.status).sort()).toEqual(['INVALID', 'READY', 'READY']);
    expect((await cli(['datasets', 'list', '--status', 'invalid'])).stdout).toMatch(/^ID +STATUS +FILE[^\n]*\nds_\w+ +INVALID +bad\.jsonl/);
    const shown = jsonOf(await cli(['datasets', 'show', uploaded.id, '--json']));
    expect(shown).toMatchObject({ id: uploaded.id, status: 'READY' });
    expect(oneLineError(await cli(['datasets', 'show', 'ds_nosuch']))).toMatch(
      /^tuneloop: dataset "ds_nosuch" was not found \[NOT_FOUND\]$/,
    );
    expect(oneLineError(await cli(['datasets', 'upload', path.join(home, 'missing.jsonl')]))).toMatch(/no such file/);
  });

  it('models list, jobs start (estimate, confirmation, balance), watch to SUCCEEDED, show, list, deploy and chat', {
    timeout: 900_000,
  }, async () => {
    const models = jsonOf<{ data: Array<{ id: string; fineTunable: boolean }> }>(await cli(['models', 'list', '--json']));
    expect(models.data).toEqual([expect.objectContaining({ id: 'tiny', fineTunable: true })]);
    expect((await cli(['models', 'list'])).stdout).toMatch(/^ID +FINE-TUNABLE[^\n]*\ntiny +yes +llama/);

    const file = path.join(home, 'train.jsonl');
    await fs.writeFile(file, qaJsonl());
    const dataset = jsonOf(await cli(['datasets', 'upload', file, '--json']));
    const start = [
      'jobs',
      'start',
      '--model',
      'tiny',
      '--dataset',
      dataset.id,
      '--method',
      'full',
      '--epochs',
      '2',
      '--batch-size',
      '1',
      '--learning-rate',
      '0.003',
    ];

    // No terminal to confirm on and no --yes: nothing starts.
    const unconfirmed = await cli(start);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/ tokens\n[\s\S]*\ntuneloop: not started: pass --yes to start without a terminal to confirm on\n$/);
    expect(unconfirmed.stdout).toBe('');
    // Too little credit: refused before starting, with the price and the balance.
    const poor = { TUNELOOP_API_KEY: (await t.account('poor', 10n)).apiKey };
    const poorData = jsonOf(await cli(['datasets', 'upload', file, '--json'], poor));
    const refused = await cli([...start.slice(0, 5), poorData.id, ...start.slice(6), '--yes'], poor);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^tuneloop: not started: the job would cost \$0\.\d+ but only \$0\.00001 is available/m);
    expect(refused.stderr).toMatch(/12 examples × 2 epochs = [\d,]+ tokens/);
    expect(jsonOf(await cli(['jobs', 'list', '--json'])).data).toEqual([]);

    const started = await cli([...start, '--yes', '--suffix', 'cli']);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).toMatch(
      /^FULL fine-tune of tiny on ds_\w+:\n {2}12 examples × 2 epochs = [\d,]+ tokens\n {2}epochs 2, batch size 1, learning rate 0\.003\n/,
    );
    const jobId = /started (ftjob_\w+) \(/.exec(started.stdout)![1]!;
    expect(started.stdout).toContain(`watch it: tuneloop jobs watch ${jobId}`);

    const watched = await cli(['jobs', 'watch', jobId]);
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stderr).toMatch(new RegExp(`^watching ${jobId} \\(tiny, FULL\\)`));
    const finished = jsonOf(await cli(['jobs', 'show', jobId, '--json']));
    expect(finished).toMatchObject({ id: jobId, status: 'SUCCEEDED', fineTunedModel: expect.stringMatching(/^ft:tiny:cli:/) });
    const steps = finished.progress.totalSteps as number;
    expect(watched.stderr).toMatch(new RegExp(`^step ${steps}/${steps} {2}epoch 2\\.00 {2}loss [\\d.]+ {2}[\\d,]+ tok/s {2}ETA 0s$`, 'm'));
    const model = finished.fineTunedModel as string;
    expect(watched.stdout).toBe(
      `${jobId} SUCCEEDED in ${/in (\S+):/.exec(watched.stdout)![1]}: ${steps} steps, final loss ${finished.metrics.loss.toPrecision(4)}, cost $${Number(Number(finished.cost).toPrecision(2))}\n` +
        `fine-tuned model: ${model}\nchat with it:     tuneloop chat ${model}\n`,
    );
    // Watching a finished job answers at once, with its exit code.
    expect(jsonOf(await cli(['jobs', 'watch', jobId, '--json']))).toMatchObject({ id: jobId, status: 'SUCCEEDED' });
    expect((await cli(['jobs', 'show', jobId])).stdout).toMatch(
      new RegExp(`^${jobId}\\n {2}status +SUCCEEDED\\n[\\s\\S]* {2}fine-tuned model +${model.replace(/[:]/g, '\\$&')}`),
    );
    const list = jsonOf<{ data: Array<{ id: string }> }>(await cli(['jobs', 'list', '--json']));
    expect(list.data.map((j) => j.id)).toEqual([jobId]);
    expect((await cli(['jobs', 'list', '--status', 'succeeded'])).stdout).toMatch(
      new RegExp(`\\n${jobId} +SUCCEEDED +tiny +FULL +${steps}/${steps}`),
    );

    const deployed = jsonOf(await cli(['deploy', model, '--quantization', 'int8', '--json']));
    expect(deployed).toMatchObject({ modelId: model, status: 'READY', quantization: 'INT8' });
    expect((await cli(['deploy', model])).stdout).toBe(
      `${model} is READY (${deployed.id}, INT8, cpu)\nchat with it: tuneloop chat ${model}\n`,
    );
    expect(oneLineError(await cli(['deploy', model, '--quantization', 'none']))).toMatch(
      /already deployed .* as INT8 .*\[DEPLOYMENT_EXISTS\]$/,
    );
    // The streamed answer is the server's greedy answer, token for token.
    const question = QA[0]![0];
    const reference = await restJson<{ choices: Array<{ message: { content: string } }> }>(t.url, key, '/v1/chat/completions', {
      method: 'POST',
      body: JSON.stringify({ model, messages: [{ role: 'user', content: question }], temperature: 0, max_tokens: 12 }),
    });
    const expected = reference.body.choices[0]!.message.content;
    const oneShot = await cli(['chat', model, '--message', question, '--temperature', '0', '--max-tokens', '12']);
    expect(oneShot.code, oneShot.stderr).toBe(0);
    expect(oneShot.stdout).toBe(`${expected}\n`);
    const asJson = jsonOf(await cli(['chat', model, '-m', question, '--temperature', '0', '--max-tokens', '12', '--json']));
    expect(asJson).toMatchObject({ object: 'chat.completion', model, choices: [{ message: { role: 'assistant', content: expected } }] });
    // From a pipe: one message a line, one answer a line, the conversation kept.
    const piped = await cli(['chat', model, '--temperature', '0', '--max-tokens', '12'], {}, `${question}\n\n${QA[1]![0]}\n`);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.split('\n')).toEqual([expected, expect.any(String), '']);
    expect(oneLineError(await cli(['chat', model, '--json']))).toMatch(/--json needs --message/);
    expect(oneLineError(await cli(['deploy', 'ft:nosuch']))).toMatch(/not found \[NOT_FOUND\]$/);
    sftModel = model;
  });

  it('jobs start --method dpo --beta from a fine-tuned model; show and models list give lineage and rewards', {
    timeout: 600_000,
  }, async () => {
    const file = path.join(home, 'pairs.jsonl');
    const pairs = QA.map(([q, a]) => ({
      input: { messages: [{ role: 'user', content: q }] },
      preferred_output: [{ role: 'assistant', content: a }],
      non_preferred_output: [{ role: 'assistant', content: 'I do not know.' }],
    }));
    await fs.writeFile(file, `${pairs.map((p) => JSON.stringify(p)).join('\n')}\n`);
    const dataset = jsonOf(await cli(['datasets', 'upload', file, '--json']));
    expect(dataset).toMatchObject({ status: 'READY', format: 'preference' });
    const started = await cli([
      'jobs',
      'start',
      '--model',
      sftModel,
      '--dataset',
      dataset.id,
      '--method',
      'dpo',
      '--beta',
      '0.2',
      '--epochs',
      '1',
      '--batch-size',
      '4',
      '--yes',
      '--watch',
    ]);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).toMatch(/^DPO fine-tune of ft:tiny:cli:\w+ on ds_\w+:\n {2}12 examples × 1 epochs = [\d,]+ tokens/);
    const jobId = /(ftjob_\w+)/.exec(started.stdout)![1]!;
    const job = jsonOf(await cli(['jobs', 'show', jobId, '--json']));
    expect(job).toMatchObject({ status: 'SUCCEEDED', method: 'DPO', trainable: 'LORA', baseModel: 'tiny', parentModel: sftModel });
    expect(job.hyperparameters.beta).toBe(0.2);
    const shown = (await cli(['jobs', 'show', jobId])).stdout;
    expect(shown).toContain(`model            ${sftModel} (continued; base tiny) (DPO, LORA)`);
    expect(shown).toMatch(/\n {2}rewards +accuracy [\d.]+, margin /);
    const listed = (await cli(['models', 'list'])).stdout;
    expect(listed).toMatch(new RegExp(`\\n${job.fineTunedModel.replace(/[:]/g, '\\$&')} .* ${sftModel.replace(/[:]/g, '\\$&')}\\n`));
    expect(oneLineError(await cli(['jobs', 'start', '--model', 'tiny', '--dataset', dataset.id, '--yes']))).toMatch(
      /preference dataset; train on it with method DPO .*\[DATASET_FORMAT_MISMATCH\]$/,
    );
  });
});
