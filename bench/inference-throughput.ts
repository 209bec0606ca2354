/**
 * Inference throughput of a deployed model through the whole api (HTTP, SSE, the runtime
 * worker, onnxruntime-node) in float32 (NONE), INT8 and INT4, next to the trainer's torch
 * eager greedy generation on the same weights in the same run. Prints figures and ratios;
 * asserts nothing.
 *
 *   npx tsx bench/inference-throughput.ts [--size base] [--tokens 128] [--rounds 3] [--model DIR]
 *       [--untrained] [--train-epochs 8] [--train-text FILE] [--eval-text FILE] [--recipes]
 *
 * The model: `init-model --size` (random weights), then trained briefly on a text by the
 * real trainer (bench/text-model.py; both cached in the temp folder between runs), so its
 * weights have the structure quantization has to preserve and its perplexity on a
 * held-out text means something (a random model's is its vocabulary size at any
 * precision). `--untrained` measures the random model; `--model` any model folder.
 *
 * Measured:
 *  - per quantization (three deployments loaded side by side, rounds interleaved so a
 *    shared machine's drift hits them alike): decode tokens/s of one stream (median of
 *    `rounds` requests) and of 8 concurrent streams (all completion tokens / wall time of
 *    a round, median over rounds), each as a ratio to NONE; the weights' bytes on disk and
 *    in memory (as the deployment reports them); the weight-read bandwidth that decode
 *    speed implies (every decode step reads every linear layer's weights once: bytes on
 *    disk less the embedding table, × steps per second); perplexity on the held-out text
 *    and greedy tokens identical to NONE's (in-process, the runtime's session class);
 *  - the machine's memory bandwidth by a copy benchmark in the same run;
 *  - time to first token (request sent → first text chunk) p50 / p99, float32;
 *  - torch: bench/inference-torch-greedy.py, as the trainer runs it, and with its fused
 *    weights concatenated once (see that file) before and after the runtime figures (the
 *    faster of the two is the baseline: the machine may be shared);
 *  - the session options the runtime uses against the alternatives (bench/lib/session-sweep.ts);
 *  - with `--recipes`: block size 32 / 128, symmetric / zero points, accuracy level and
 *    LM-head precision side by side (bench/lib/recipe-sweep.ts).
 * Greedy decoding everywhere (temperature 0, end-of-text banned so every request makes
 * exactly `tokens` tokens); the float32 ONNX greedy tokens are checked against torch's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { buildApp } from '../src/app.js';
import type { Quantization } from '../src/catalog/quantization.js';
import { availableCores, loadConfig } from '../src/config.js';
import { resolvePython, TRAINER_DIR } from '../src/engine/python.js';
import { quantizedDir } from '../src/inference/quantized-export.js';
import { ModelTokenizer } from '../src/tokenizer/model-tokenizer.js';
import { createLogger } from '../src/log.js';
import { copyBandwidth } from './lib/memory-bandwidth.js';
import { greedy, loadProbe, perplexity } from './lib/onnx-probe.js';
import { recipeSweep } from './lib/recipe-sweep.js';
import { sessionSweep } from './lib/session-sweep.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'base' },
    tokens: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '3' },
    model: { type: 'string' },
    untrained: { type: 'boolean', default: false },
    'train-epochs': { type: 'string', default: '8' },
    'train-text': { type: 'string', default: '/usr/share/common-licenses/GPL-3' },
    'eval-text': { type: 'string', default: '/usr/share/common-licenses/Apache-2.0' },
    recipes: { type: 'boolean', default: false },
  },
});
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);
const CONCURRENT = 8;
/** Perplexity windows: the length the text model was trained on. */
const WINDOW = 128;
const QUANTIZATIONS: Quantization[] = ['NONE', 'INT8', 'INT4'];
const here = path.dirname(fileURLToPath(import.meta.url));
const python = resolvePython(process.env.TUNELOOP_PYTHON);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const fmt = (n: number, d = 1) => n.toFixed(d);
const mb = (bytes: number) => `${fmt(bytes / 1e6)} MB`;

/** Runs a Python command to completion; `progress` shows its stderr as it goes. */
function run(cmd: string, args: string[], what: string, progress = false): string {
  const r = spawnSync(cmd, args, {
    cwd: TRAINER_DIR,
    env: { ...process.env, PYTHONPATH: TRAINER_DIR },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', progress ? 'inherit' : 'pipe'],
  });
  if (r.status !== 0) throw new Error(`${what} failed${progress ? ' (see above)' : `: ${r.stderr.trim().split('\n').at(-1)}`}`);
  return r.stdout;
}

const trainer = (args: string[]) => run(python, ['-m', 'tuneloop_trainer', ...args], `trainer ${args[0]}`);

function readable(file: string, option: string): string {
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist: pass --${option} FILE (any plain English text)`);
  return file;
}

/** init-model (+ export), then the text-trained copy unless --untrained; all kept in the temp folder between runs. */
function modelFolder(): string {
  if (values.model) return path.resolve(values.model);
  const cache = path.join(os.tmpdir(), 'tuneloop-bench-models');
  const dir = path.join(cache, `${values.size}-llama-0`);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    fs.rmSync(dir, { recursive: true, force: true });
    trainer(['init-model', '--size', values.size!, '--seed', '0', '--out', dir]);
  }
  if (values.untrained) {
    if (!fs.existsSync(path.join(dir, 'onnx', 'model.onnx'))) trainer(['export-onnx', '--model', dir]);
    return dir;
  }
  const text = readable(values['train-text']!, 'train-text');
  const trained = path.join(cache, `${values.size}-llama-0-${path.basename(text)}-e${values['train-epochs']}`);
  if (!fs.existsSync(path.join(trained, 'model', 'onnx', 'model.onnx'))) {
    console.log(`training the ${values.size} model on ${text} for ${values['train-epochs']} epochs (once; cached in ${trained})…`);
    fs.rmSync(trained, { recursive: true, force: true });
    const out = run(
      python,
      [path.join(here, 'text-model.py'), dir, text, trained, '--epochs', values['train-epochs']!],
      'text-model.py',
      true,
    );
    const r = JSON.parse(out) as { tokens: number; steps: number; loss: number };
    console.log(`  ${r.tokens} tokens, ${r.steps} steps, last training loss ${fmt(r.loss, 3)}`);
  }
  return path.join(trained, 'model');
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

interface Served {
  quantization: Quantization;
  accountId: string;
  apiKey: string;
  deployMs: number;
  bytesOnDisk: number;
  bytesInMemory: number;
  single: StreamFigures[];
  rounds: StreamFigures[][];
}

async function main(): Promise<void> {
  const dir = modelFolder();
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as {
    num_hidden_layers: number;
    hidden_size: number;
    vocab_size: number;
  };
  const params = JSON.parse(trainer(['inspect-model', dir])) as { parameters: number };
  const weights = values.model ? 'its own weights' : values.untrained ? 'random weights' : `trained on ${values['train-text']}`;
  console.log(
    `model: ${values.size} (${(params.parameters / 1e6).toFixed(1)}M parameters, ${config.num_hidden_layers} layers, hidden ${config.hidden_size}; ${weights}), ${TOKENS} new tokens a request, ${os.cpus().length} CPUs (${availableCores()} usable), onnxruntime-node ${ort.env.versions.common}`,
  );
  const heldOutText = fs.readFileSync(readable(values['eval-text']!, 'eval-text'), 'utf8');

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
    const { inference, catalog, accounts } = app.services;
    const model = await catalog.importModel({ dir, id: 'bench-model', fineTunable: false });
    // One account per quantization: an account serves one deployment of a model.
    const served: Served[] = [];
    for (const quantization of QUANTIZATIONS) {
      const { account, apiKey } = await accounts.createAccount({
        name: quantization,
        initialBalanceMicros: 1_000_000_000n,
        isAdmin: false,
      });
      const t0 = performance.now();
      const { deployment } = await inference.deploy(account.id, 'bench-model', { quantization });
      const ready = await inference.waitReady(account.id, deployment.id);
      served.push({
        quantization,
        accountId: account.id,
        apiKey,
        deployMs: performance.now() - t0,
        bytesOnDisk: Number(ready.weight_bytes_on_disk),
        bytesInMemory: Number(ready.weight_bytes_in_memory),
        single: [],
        rounds: [],
      });
    }
    const fp32 = served[0]!;
    console.log(
      `deploy → READY: ${served.map((s) => `${s.quantization} ${fmt(s.deployMs, 0)} ms`).join(', ')} (INT8/INT4: quantizing included)`,
    );

    const probe = await inference.complete({
      accountId: fp32.accountId,
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
    const fp32Greedy = await inference.complete({
      accountId: fp32.accountId,
      model: 'bench-model',
      input: { prompt },
      params: { temperature: 0, maxTokens: TOKENS },
    });
    const same = fp32Greedy.tokenIds.length === TOKENS && fp32Greedy.tokenIds.every((t, i) => t === torchBefore[0]!.tokens[i]);

    // The runtime without HTTP: the service's generate, iterated in this process.
    const direct: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const g = await inference.generate({
        accountId: fp32.accountId,
        model: 'bench-model',
        input: { prompt },
        params: { temperature: 0, maxTokens: TOKENS, logitBias: noEos },
      });
      let first = 0;
      for await (const piece of g) if (piece) first ||= performance.now();
      const result = await g.result;
      direct.push((result.completionTokens - 1) / ((performance.now() - first) / 1000));
    }

    for (const s of served) await stream(url, s.apiKey, 'bench-model', prompt); // warm-up
    for (let r = 0; r < ROUNDS; r++) for (const s of served) s.single.push(await stream(url, s.apiKey, 'bench-model', prompt));
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of served) {
        s.rounds.push(await Promise.all(Array.from({ length: CONCURRENT }, () => stream(url, s.apiKey, 'bench-model', prompt))));
      }
    }
    const torchAfter = [torchGreedy(dir, prompt, true)];

    // Quality, in-process on the files the deployments serve (one session at a time).
    const fp32Onnx = model.onnx_path!;
    const heldOut = Array.from((await ModelTokenizer.load(model.storage_path)).encode(heldOutText));
    const quality: Array<{ perplexity: number; sameTokens: number; firstDifference: number | null }> = [];
    let reference: number[] = [];
    for (const s of served) {
      const file = s.quantization === 'NONE' ? fp32Onnx : path.join(quantizedDir(fp32Onnx, s.quantization), 'model.onnx');
      const lm = await loadProbe(file, model.storage_path, availableCores());
      const tokens = await greedy(lm, prompt, TOKENS);
      if (s.quantization === 'NONE') reference = tokens;
      const differ = tokens.findIndex((t, i) => t !== reference[i]);
      quality.push({
        perplexity: await perplexity(lm, heldOut, WINDOW),
        sameTokens: tokens.filter((t, i) => t === reference[i]).length,
        firstDifference: differ < 0 ? null : differ,
      });
      await lm.release();
    }
    const bandwidth = await copyBandwidth({ threads: availableCores() });
    const sweep = await sessionSweep(dir, ROUNDS);
    const recipes = values.recipes
      ? await recipeSweep({
          python,
          fp32OnnxPath: fp32Onnx,
          modelDir: model.storage_path,
          heldOut,
          window: WINDOW,
          threads: availableCores(),
          rounds: ROUNDS,
        })
      : [];

    const oneStream = (s: Served) => median(s.single.map((f) => f.decodeTokensPerS));
    const aggregate = (s: Served) =>
      median(
        s.rounds.map(
          (r) =>
            r.reduce((n, f) => n + f.tokens, 0) / ((Math.max(...r.map((f) => f.endedAt)) - Math.min(...r.map((f) => f.startedAt))) / 1000),
        ),
      );
    const torchAsIs = torchBefore[0]!.decode_tokens_per_s;
    const torchFused = Math.max(torchBefore[1]!.decode_tokens_per_s, torchAfter[0]!.decode_tokens_per_s);
    const ttft1 = fp32.single.map((s) => s.ttftMs);
    const ttft8 = fp32.rounds.flat().map((s) => s.ttftMs);
    // The embedding is a row lookup per token: every other weight is read once per decode step.
    const embeddingBytes = config.vocab_size * config.hidden_size * 4;

    console.log('');
    console.log(`prompt ${prompt.length} tokens; float32 greedy tokens identical to torch: ${same ? 'yes' : 'NO'}`);
    console.log(`torch ${torchBefore[0]!.torch} eager, ${torchBefore[0]!.threads} threads, 1 request:`);
    console.log(`  as the trainer runs it          ${fmt(torchAsIs)} tok/s  (prefill ${fmt(torchBefore[0]!.prefill_ms, 0)} ms)`);
    console.log(
      `  fused weights concatenated once ${fmt(torchBefore[1]!.decode_tokens_per_s)} / ${fmt(torchAfter[0]!.decode_tokens_per_s)} tok/s before / after the runtime runs (prefill ${fmt(torchBefore[1]!.prefill_ms, 0)} ms); the faster is the baseline`,
    );
    const oneDirect = median(direct);
    console.log(
      `onnxruntime-node float32, the service's generate in-process (runtime worker, no HTTP): 1 request decode ${fmt(oneDirect)} tok/s = ${fmt(oneDirect / torchFused, 2)}× torch`,
    );
    console.log('onnxruntime-node through the api (HTTP + SSE; the client runs in this process too):');
    for (const s of served) {
      const one = oneStream(s);
      const all = aggregate(s);
      const perStream = median(s.rounds.flat().map((f) => f.decodeTokensPerS));
      console.log(
        `  ${s.quantization.padEnd(4)}  1 request  decode ${fmt(one)} tok/s = ${fmt(one / oneStream(fp32), 2)}× NONE, ${fmt(one / torchAsIs, 2)}× torch as run, ${fmt(one / torchFused, 2)}× torch with cached fusion`,
      );
      console.log(
        `        ${CONCURRENT} requests ${fmt(all)} tok/s in all (${fmt(perStream)} per stream) = ${fmt(all / aggregate(fp32), 2)}× NONE, ${fmt(all / one, 2)}× one request`,
      );
    }
    console.log(
      `  time to first token (NONE)  1 request: p50 ${fmt(percentile(ttft1, 50), 0)} ms, p99 ${fmt(percentile(ttft1, 99), 0)} ms;  ${CONCURRENT} requests: p50 ${fmt(percentile(ttft8, 50), 0)} ms, p99 ${fmt(percentile(ttft8, 99), 0)} ms`,
    );
    console.log('');
    console.log(`weights and quality (perplexity on ${values['eval-text']}, ${heldOut.length} tokens in windows of ${WINDOW}):`);
    console.log('  quantization  on disk     in memory   weights read a step  read at 1 / 8 streams  perplexity          greedy = NONE');
    for (const [i, s] of served.entries()) {
      const read = s.bytesOnDisk - embeddingBytes;
      const q = quality[i]!;
      const ppl = quality[0]!.perplexity;
      console.log(
        `  ${s.quantization.padEnd(12)}  ${mb(s.bytesOnDisk).padStart(9)}  ${mb(s.bytesInMemory).padStart(10)}  ${mb(read).padStart(19)}  ${`${fmt((read * oneStream(s)) / 1e9, 2)} / ${fmt((read * (aggregate(s) / CONCURRENT)) / 1e9, 2)} GB/s`.padStart(21)}  ${`${fmt(q.perplexity, 2)} (${q.perplexity >= ppl ? '+' : ''}${fmt((q.perplexity / ppl - 1) * 100, 2)} %)`.padEnd(18)}  ${q.sameTokens}/${TOKENS}${q.firstDifference === null ? '' : ` (first differs at ${q.firstDifference})`}`,
      );
    }
    console.log(
      `  memory bandwidth, copy benchmark (${bandwidth.threads} threads, read + write): ${fmt(bandwidth.copyBytesPerS / 1e9, 2)} GB/s`,
    );
    console.log('session options, float32 decode ms/token at 1 request (in-process, median):');
    for (const v of sweep) console.log(`  ${v.label.padEnd(52)} ${fmt(v.ms, 2)} ms  (${fmt(v.ms / sweep[0]!.ms, 2)}×)`);
    if (recipes.length) {
      const base = recipes[0]!;
      console.log('quantization recipes (in-process, decode ms/step median, ratios to float32; perplexity as above):');
      for (const r of recipes) {
        console.log(
          `  ${r.label.padEnd(26)} ${mb(r.bytes).padStart(9)}  1 row ${fmt(r.ms1, 2).padStart(6)} ms (${fmt(base.ms1 / r.ms1, 2)}×)  8 rows ${fmt(r.ms8, 2).padStart(6)} ms (${fmt(base.ms8 / r.ms8, 2)}×)  perplexity ${fmt(r.perplexity, 2)} (${r.perplexity >= base.perplexity ? '+' : ''}${fmt((r.perplexity / base.perplexity - 1) * 100, 2)} %)`,
        );
      }
    }
  } finally {
    await app.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
