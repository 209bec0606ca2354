/**
 * Inference throughput of a deployed model through the whole api (HTTP, SSE, the runtime
 * worker, onnxruntime-node), next to the trainer's torch eager greedy generation on the
 * same weights in the same run. Prints figures and ratios; asserts nothing.
 *
 *   npx tsx bench/inference-throughput.ts [--size base] [--tokens 128] [--rounds 3] [--model DIR]
 *
 * Measured:
 *  - decode tokens/s of one stream (median of `rounds` requests) and of 8 concurrent
 *    streams (all completion tokens / wall time of a round, median over rounds);
 *  - time to first token (request sent → first text chunk) p50 / p99 over every request;
 *  - torch: bench/inference-torch-greedy.py, as the trainer runs it, and with its fused
 *    weights concatenated once (see that file) before and after the runtime figures (the
 *    faster of the two is the baseline: the machine may be shared);
 *  - the session options the runtime uses against the alternatives, in-process, decode
 *    ms per token at one request (interleaved, median of rounds).
 * Greedy decoding everywhere (temperature 0, end-of-text banned so every request makes
 * exactly `tokens` tokens); the ONNX greedy tokens are checked against torch's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { buildApp } from '../src/app.js';
import { availableCores, loadConfig } from '../src/config.js';
import { resolvePython, TRAINER_DIR } from '../src/engine/python.js';
import { createLogger } from '../src/log.js';
import { readOnnxInfo } from '../src/inference/runtime/onnx-info.js';
import { argmax } from '../src/inference/runtime/sampler.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'base' },
    tokens: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '3' },
    model: { type: 'string' },
  },
});
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);
const CONCURRENT = 8;
const here = path.dirname(fileURLToPath(import.meta.url));
const python = resolvePython(process.env.TUNELOOP_PYTHON);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const fmt = (n: number, d = 1) => n.toFixed(d);

function trainer(args: string[]): string {
  const r = spawnSync(python, ['-m', 'tuneloop_trainer', ...args], {
    cwd: TRAINER_DIR,
    env: { ...process.env, PYTHONPATH: TRAINER_DIR },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`trainer ${args[0]} failed: ${r.stderr.trim().split('\n').at(-1)}`);
  return r.stdout;
}

/** init-model + export-onnx once per size, kept in the temp folder between runs. */
function modelFolder(): string {
  if (values.model) return path.resolve(values.model);
  const dir = path.join(os.tmpdir(), 'tuneloop-bench-models', `${values.size}-llama-0`);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    trainer(['init-model', '--size', values.size!, '--seed', '0', '--out', dir]);
  }
  if (!fs.existsSync(path.join(dir, 'onnx', 'model.onnx'))) trainer(['export-onnx', '--model', dir]);
  return dir;
}

interface TorchFigures {
  decode_tokens_per_s: number;
  prefill_ms: number;
  tokens: number[];
  threads: number;
  torch: string;
}

function torchGreedy(dir: string, prompt: number[], cachedFusion: boolean, repeats = ROUNDS): TorchFigures {
  const args = [path.join(here, 'inference-torch-greedy.py'), dir, JSON.stringify(prompt), String(TOKENS), String(repeats)];
  const r = spawnSync(python, cachedFusion ? [...args, '--cached-fusion'] : args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`torch baseline failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as TorchFigures;
}

interface StreamFigures {
  ttftMs: number;
  decodeTokensPerS: number;
  tokens: number;
  startedAt: number;
  endedAt: number;
}

/** One streamed /v1/completions request, timed at the client. */
async function stream(url: string, apiKey: string, model: string, prompt: number[]): Promise<StreamFigures> {
  const startedAt = performance.now();
  const response = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model,
      prompt,
      max_tokens: TOKENS,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
      logit_bias: noEos,
    }),
  });
  if (response.status !== 200) throw new Error(`completion answered ${response.status}: ${await response.text()}`);
  let first = 0;
  let last = 0;
  let tokens = 0;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const data = buffer.slice(6, end);
      buffer = buffer.slice(end + 2);
      if (data === '[DONE]') continue;
      const event = JSON.parse(data) as { choices: Array<{ text: string }>; usage?: { completion_tokens: number } };
      if (event.usage) tokens = event.usage.completion_tokens;
      else if (event.choices[0]?.text) {
        last = performance.now();
        first ||= last;
      }
    }
  }
  return {
    ttftMs: first - startedAt,
    decodeTokensPerS: (tokens - 1) / ((last - first) / 1000),
    tokens,
    startedAt,
    endedAt: performance.now(),
  };
}

let noEos: Record<string, number> = {};

/** ms per decode step at one request for a set of session options (in this process). */
async function sessionSweep(dir: string): Promise<Array<{ label: string; ms: number }>> {
  const onnxPath = path.join(dir, 'onnx', 'model.onnx');
  const info = await readOnnxInfo(onnxPath, dir);
  const cores = availableCores();
  const base = { executionMode: 'sequential', enableMemPattern: false } as const;
  const noSpin = { extra: { session: { intra_op: { allow_spinning: '0' } } } };
  const variants: Array<{ label: string; options: ort.InferenceSession.SessionOptions }> = [
    {
      label: `runtime: all optimisations, ${cores} threads, no spinning`,
      options: { ...base, graphOptimizationLevel: 'all', intraOpNumThreads: cores, ...noSpin },
    },
    {
      label: `basic optimisations, ${cores} threads, no spinning`,
      options: { ...base, graphOptimizationLevel: 'basic', intraOpNumThreads: cores, ...noSpin },
    },
    { label: 'all optimisations, 1 thread', options: { ...base, graphOptimizationLevel: 'all', intraOpNumThreads: 1, ...noSpin } },
    {
      label: `all optimisations, ${cores} threads, spinning`,
      options: { ...base, graphOptimizationLevel: 'all', intraOpNumThreads: cores },
    },
  ];
  const sessions = await Promise.all(variants.map((v) => ort.InferenceSession.create(onnxPath, v.options)));
  const i64 = (xs: number[]) => BigInt64Array.from(xs.map(BigInt));
  const steps = 32;
  const decode = async (session: ort.InferenceSession) => {
    const names = Array.from({ length: info.numLayers }, (_, i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]).flat();
    const feeds = (ids: number[], past: number, cache: ort.Tensor[]) => {
      const f: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', i64(ids), [1, ids.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(past + ids.length).fill(1n), [1, past + ids.length]),
        position_ids: new ort.Tensor('int64', i64(ids.map((_, i) => past + i)), [1, ids.length]),
      };
      names.forEach((n, i) => (f[n] = cache[i]!));
      return f;
    };
    const empty = names.map(() => new ort.Tensor('float32', new Float32Array(0), [1, info.numKvHeads, 0, info.headDim]));
    const prompt = Array.from({ length: 32 }, (_, i) => (i * 37) % info.vocabSize);
    let out = await session.run(feeds(prompt, 0, empty));
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) {
      const cache = names.map((_, i) => out[`present.${i >> 1}.${i % 2 ? 'value' : 'key'}`]!);
      const logits = out.logits!.data as Float32Array;
      out = await session.run(feeds([argmax(logits.subarray(logits.length - info.vocabSize))], prompt.length + s, cache));
    }
    return (performance.now() - t0) / steps;
  };
  const samples = variants.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) for (let v = 0; v < variants.length; v++) samples[v]!.push(await decode(sessions[v]!));
  await Promise.all(sessions.map((s) => s.release()));
  return variants.map((v, i) => ({ label: v.label, ms: median(samples[i]!) }));
}

async function main(): Promise<void> {
  const dir = modelFolder();
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { num_hidden_layers: number; hidden_size: number };
  const params = JSON.parse(trainer(['inspect-model', dir])) as { parameters: number };
  console.log(
    `model: ${values.size} (${(params.parameters / 1e6).toFixed(1)}M parameters, ${config.num_hidden_layers} layers, hidden ${config.hidden_size}), ${TOKENS} new tokens a request, ${os.cpus().length} CPUs (${availableCores()} usable), onnxruntime-node ${ort.env.versions.common}`,
  );

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuneloop-bench-'));
  const app = await buildApp({
    config: loadConfig({ dataDir, databaseUrl: undefined, host: '127.0.0.1', port: 0, logLevel: 'warn' }, {}),
    api: true,
    worker: false,
    log: createLogger('warn'),
  });
  try {
    await app.start();
    const url = app.url!;
    const { account, apiKey } = await app.services.accounts.createAccount({
      name: 'bench',
      initialBalanceMicros: 1_000_000_000n,
      isAdmin: false,
    });
    await app.services.catalog.importModel({ dir, id: 'bench-model', fineTunable: false });
    const t0 = performance.now();
    const { deployment } = await app.services.inference.deploy(account.id, 'bench-model');
    await app.services.inference.waitReady(account.id, deployment.id);
    console.log(`deploy → READY: ${fmt(performance.now() - t0, 0)} ms`);

    const probe = await app.services.inference.complete({
      accountId: account.id,
      model: 'bench-model',
      input: { prompt: 'The history of the printing press begins in the fifteenth century, when a goldsmith in Mainz combined' },
      params: { temperature: 0, maxTokens: 1 },
    });
    const prompt = probe.promptTokenIds;
    const eos = JSON.parse(fs.readFileSync(path.join(dir, 'onnx', 'tuneloop-onnx.json'), 'utf8')).eos_token_id as number[];
    noEos = Object.fromEntries(eos.map((id) => [String(id), -100]));

    // As the trainer runs it, torch decodes slowly (see inference-torch-greedy.py): one repeat.
    const torchBefore = [torchGreedy(dir, prompt, false, 1), torchGreedy(dir, prompt, true)];

    // The runtime's greedy tokens must be torch's (fp32 on both sides).
    const greedy = await app.services.inference.complete({
      accountId: account.id,
      model: 'bench-model',
      input: { prompt },
      params: { temperature: 0, maxTokens: TOKENS },
    });
    const same = greedy.tokenIds.length === TOKENS && greedy.tokenIds.every((t, i) => t === torchBefore[0]!.tokens[i]);

    // The runtime without HTTP: the service's generate, iterated in this process.
    const direct: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const g = await app.services.inference.generate({
        accountId: account.id,
        model: 'bench-model',
        input: { prompt },
        params: { temperature: 0, maxTokens: TOKENS, logitBias: noEos },
      });
      let first = 0;
      for await (const piece of g) if (piece) first ||= performance.now();
      const result = await g.result;
      direct.push((result.completionTokens - 1) / ((performance.now() - first) / 1000));
    }

    await stream(url, apiKey, 'bench-model', prompt); // warm-up
    const single: StreamFigures[] = [];
    for (let r = 0; r < ROUNDS; r++) single.push(await stream(url, apiKey, 'bench-model', prompt));
    const rounds: StreamFigures[][] = [];
    for (let r = 0; r < ROUNDS; r++) {
      rounds.push(await Promise.all(Array.from({ length: CONCURRENT }, () => stream(url, apiKey, 'bench-model', prompt))));
    }
    const torchAfter = [torchGreedy(dir, prompt, true)];
    const sweep = await sessionSweep(dir);

    const oneStream = median(single.map((s) => s.decodeTokensPerS));
    const aggregate = median(
      rounds.map(
        (r) =>
          r.reduce((n, s) => n + s.tokens, 0) / ((Math.max(...r.map((s) => s.endedAt)) - Math.min(...r.map((s) => s.startedAt))) / 1000),
      ),
    );
    const perStream8 = median(rounds.flat().map((s) => s.decodeTokensPerS));
    const torchAsIs = torchBefore[0]!.decode_tokens_per_s;
    const torchFused = Math.max(torchBefore[1]!.decode_tokens_per_s, torchAfter[0]!.decode_tokens_per_s);
    const ttft1 = single.map((s) => s.ttftMs);
    const ttft8 = rounds.flat().map((s) => s.ttftMs);

    console.log('');
    console.log(`prompt ${prompt.length} tokens; greedy tokens identical to torch: ${same ? 'yes' : 'NO'}`);
    console.log(`torch ${torchBefore[0]!.torch} eager, ${torchBefore[0]!.threads} threads, 1 request:`);
    console.log(`  as the trainer runs it          ${fmt(torchAsIs)} tok/s  (prefill ${fmt(torchBefore[0]!.prefill_ms, 0)} ms)`);
    console.log(
      `  fused weights concatenated once ${fmt(torchBefore[1]!.decode_tokens_per_s)} / ${fmt(torchAfter[0]!.decode_tokens_per_s)} tok/s before / after the runtime runs (prefill ${fmt(torchBefore[1]!.prefill_ms, 0)} ms); the faster is the baseline`,
    );
    const oneDirect = median(direct);
    console.log(
      `onnxruntime-node, the service's generate in-process (runtime worker, no HTTP): 1 request decode ${fmt(oneDirect)} tok/s = ${fmt(oneDirect / torchFused, 2)}× torch`,
    );
    console.log('onnxruntime-node through the api (HTTP + SSE; the client runs in this process too):');
    console.log(
      `  1 request    decode ${fmt(oneStream)} tok/s   = ${fmt(oneStream / torchAsIs, 2)}× torch as run, ${fmt(oneStream / torchFused, 2)}× torch with cached fusion`,
    );
    console.log(
      `  ${CONCURRENT} requests   ${fmt(aggregate)} tok/s in all (${fmt(perStream8)} per stream) = ${fmt(aggregate / oneStream, 2)}× one request, ${fmt(aggregate / torchFused, 2)}× torch with cached fusion`,
    );
    console.log(
      `  time to first token  1 request: p50 ${fmt(percentile(ttft1, 50), 0)} ms, p99 ${fmt(percentile(ttft1, 99), 0)} ms;  ${CONCURRENT} requests: p50 ${fmt(percentile(ttft8, 50), 0)} ms, p99 ${fmt(percentile(ttft8, 99), 0)} ms`,
    );
    console.log('session options, decode ms/token at 1 request (in-process, median):');
    for (const v of sweep) console.log(`  ${v.label.padEnd(52)} ${fmt(v.ms, 2)} ms  (${fmt(v.ms / sweep[0]!.ms, 2)}×)`);
  } finally {
    await app.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
