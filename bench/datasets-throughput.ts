/**
 * Dataset pipeline throughput: validate + tokenize (MB/s) and peak RSS on generated chat
 * files, next to bare line splitting + JSON.parse of the same file in the same run.
 * Prints figures and ratios; asserts nothing (goals and recorded figures:
 * docs/PERFORMANCE.md).
 *
 *   npx tsx bench/datasets-throughput.ts [--sizes 100,1000] [--rounds N] [--model DIR] [--keep]
 *
 * Steps run in interleaved rounds (default: 3 for files up to 200 MB, 1 above) and each
 * figure is the best round, so a machine shared with other work disturbs it less. Each
 * step also reports CPU seconds (all its threads): MB per CPU-second × cores is what the
 * step would reach on idle cores with perfect scaling.
 *
 * Each measurement runs in a fresh child process, so its peak RSS (maxRSS, worker
 * threads included) is its own; RSS growth is that peak minus the RSS the child had
 * once its code and the tokenizer were loaded. Steps per size:
 *   bare          one thread: read 1 MB chunks, split lines, JSON.parse each line
 *   validate      validateDataset without a tokenizer (format and content checks only)
 *   validate+tok  validateDataset with the model tokenizer and `shardPath`: one pass that
 *                 checks, renders with the chat template, tokenizes, checks token limits
 *                 and writes the token shard — "validate + tokenize"
 *   shard         tokenizeToShard alone (a dataset already validated, for another model)
 * The model defaults to the real tiny model (`init-model --size tiny`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,1000' },
    rounds: { type: 'string' },
    model: { type: 'string' },
    keep: { type: 'boolean', default: false },
    step: { type: 'string' },
    file: { type: 'string' },
    out: { type: 'string' },
  },
});

if (values.step) {
  await runStep(values.step, values.file!, values.model!, values.out!);
} else {
  await main();
}

async function main(): Promise<void> {
  const sizes = values.sizes!.split(',').map(Number);
  const dir = await mkdtemp(path.join(tmpdir(), 'tuneloop-bench-datasets-'));
  try {
    const model = values.model ?? initTinyModel(dir);
    console.log(`datasets throughput — ${availableParallelism()} cores, Node ${process.version}, model ${model}`);
    for (const mb of sizes) {
      const file = path.join(dir, `chat-${mb}mb.jsonl`);
      const t0 = performance.now();
      const lines = await generate(file, mb * 1024 * 1024);
      const size = (await stat(file)).size;
      console.log(
        `\n${mb} MB file: ${lines} examples, ${(size / 1e6).toFixed(0)} MB (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
      const results: Record<string, StepResult> = {};
      const rounds = Number(values.rounds ?? (mb <= 200 ? 3 : 1));
      const steps = ['bare', 'validate', 'validate+tok', 'shard'];
      for (let round = 0; round < rounds; round++) {
        for (const step of steps) {
          const r = await child(step, file, model, path.join(dir, `shard-${mb}.tlshard`));
          const best = results[step];
          results[step] = {
            seconds: Math.min(best?.seconds ?? Infinity, r.seconds),
            cpuSeconds: Math.min(best?.cpuSeconds ?? Infinity, r.cpuSeconds),
            peakMb: Math.max(best?.peakMb ?? 0, r.peakMb),
            baseMb: best ? Math.min(best.baseMb, r.baseMb) : r.baseMb,
            note: r.note,
          };
          await rm(path.join(dir, `shard-${mb}.tlshard`), { force: true });
          await rm(path.join(dir, `shard-${mb}.json`), { force: true });
        }
      }
      for (const step of steps) {
        const r = results[step]!;
        console.log(
          `  ${step.padEnd(13)} ${(size / 1e6 / r.seconds).toFixed(1).padStart(7)} MB/s  ${r.seconds.toFixed(1).padStart(6)} s  ` +
            `${(size / 1e6 / r.cpuSeconds).toFixed(1).padStart(6)} MB/cpu-s  ` +
            `peak RSS ${r.peakMb.toFixed(0)} MB (+${(r.peakMb - r.baseMb).toFixed(0)} MB)${r.note ? `  ${r.note}` : ''}`,
        );
      }
      const bare = size / 1e6 / results.bare!.seconds;
      const ratio = (step: string) => (size / 1e6 / results[step]!.seconds / bare).toFixed(2);
      const cores = availableParallelism();
      const idle = (step: string) => ((size / 1e6 / results[step]!.cpuSeconds) * cores).toFixed(1);
      const growth = Math.max(...['validate', 'validate+tok', 'shard'].map((s) => results[s]!.peakMb - results[s]!.baseMb));
      console.log(
        `  ratios to bare split+parse (1 thread): validate ${ratio('validate')}, validate + tokenize ${ratio('validate+tok')}, shard ${ratio('shard')}`,
      );
      console.log(
        `  on ${cores} idle cores (MB/cpu-s × ${cores}): validate ${idle('validate')} MB/s, validate + tokenize ${idle('validate+tok')} MB/s, shard ${idle('shard')} MB/s`,
      );
      console.log(`  largest RSS growth of a step: ${growth.toFixed(0)} MB`);
      await rm(file, { force: true });
    }
  } finally {
    if (!values.keep) await rm(dir, { recursive: true, force: true });
  }
}

interface StepResult {
  seconds: number;
  cpuSeconds: number;
  peakMb: number;
  baseMb: number;
  note?: string;
}

function child(step: string, file: string, model: string, out: string): Promise<StepResult> {
  const tsx = path.join(here, '..', 'node_modules', '.bin', 'tsx');
  return new Promise((resolve, reject) => {
    const p = spawn(tsx, [fileURLToPath(import.meta.url), '--step', step, '--file', file, '--model', model, '--out', out], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.on('exit', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) return reject(new Error(`step ${step} failed (exit ${code}): ${stdout}`));
      resolve(JSON.parse(line) as StepResult);
    });
  });
}

async function runStep(step: string, file: string, model: string, out: string): Promise<void> {
  const { validateDataset } = await import('../src/datasets/validation/index.js');
  const { loadTrainingTokenizer: loadModelTokenizer } = await import('../src/tokenizer/model-tokenizer.js');
  const { tokenizeToShard } = await import('../src/datasets/tokenization/tokenize-to-shard.js');
  const tokenizer = step === 'validate+tok' || step === 'shard' ? await loadModelTokenizer(model) : null;
  const baseMb = process.memoryUsage.rss() / 1048576;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let note = '';
  if (step === 'bare') {
    note = `${await bareSplitParse(file)} lines`;
  } else if (step === 'validate' || step === 'validate+tok') {
    const shardPath = tokenizer ? `${out}.one-pass.tlshard` : undefined;
    // Limits off: the files are bigger than the 512 MB / 1M-example defaults on purpose.
    const limits = { maxTokensPerExample: null, maxBytes: Number.MAX_SAFE_INTEGER, maxExamples: Number.MAX_SAFE_INTEGER };
    const r = await validateDataset(file, { tokenizer, shardPath, limits });
    note = `${r.stats.examples} examples, ${r.errorCount} errors${r.stats.tokens ? `, ${(r.stats.tokens.total / 1e6).toFixed(1)}M tokens` : ''}`;
    if (r.shard) note += `, shard ${(r.shard.shardBytes / 1e6).toFixed(0)} MB`;
    if (shardPath) await Promise.all([rm(shardPath, { force: true }), rm(shardPath.replace(/\.tlshard$/, '.json'), { force: true })]);
  } else if (step === 'shard') {
    const s = await tokenizeToShard(file, tokenizer!, out);
    note = `${(s.totalTokens / 1e6).toFixed(1)}M tokens, shard ${(s.shardBytes / 1e6).toFixed(0)} MB`;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const peakMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ seconds, cpuSeconds, peakMb, baseMb, note } satisfies StepResult));
}

/** The baseline: one thread, 1 MB reads, split on newlines, JSON.parse every line. */
async function bareSplitParse(file: string): Promise<number> {
  const handle = await open(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let carry = '';
  let lines = 0;
  try {
    for (
      let { bytesRead } = await handle.read(buf, 0, buf.length, null);
      bytesRead > 0;
      { bytesRead } = await handle.read(buf, 0, buf.length, null)
    ) {
      const text = carry + buf.toString('utf8', 0, bytesRead);
      const parts = text.split('\n');
      carry = parts.pop()!;
      for (const p of parts) {
        if (!p) continue;
        JSON.parse(p);
        lines++;
      }
    }
    if (carry) {
      JSON.parse(carry);
      lines++;
    }
  } finally {
    await handle.close();
  }
  return lines;
}

/** A tiny model folder from the trainer's init-model (TUNELOOP_PYTHON, else /usr/bin/python3). */
function initTinyModel(dir: string): string {
  const out = path.join(dir, 'tiny-model');
  const python = process.env.TUNELOOP_PYTHON ?? '/usr/bin/python3';
  const r = spawnSync(python, ['-m', 'tuneloop_trainer', 'init-model', '--size', 'tiny', '--out', out], {
    cwd: path.join(here, '..', 'trainer'),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`init-model failed: ${r.stderr}`);
  return out;
}

/**
 * Chat examples with English-like text: words drawn with a Zipf-like skew from a
 * 5,000-word vocabulary of real and made-up words, numbers, punctuation, some non-ASCII;
 * about 1 KB a line; deterministic.
 */
async function generate(file: string, bytes: number): Promise<number> {
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const common =
    'the of and to a in is you that it for was on are as with his they at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part'.split(
      ' ',
    );
  const syllables = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'pra', 'sto', 'lin', 'gor', 'bel', 'qui', 'dra'];
  const vocab = [...common];
  while (vocab.length < 5000) {
    let w = '';
    for (let k = 1 + Math.floor(rnd() * 3); k >= 0; k--) w += syllables[Math.floor(rnd() * syllables.length)];
    vocab.push(w);
  }
  const extras = ['café', 'naïve', '東京', '👍', '—', '2024', '3.14', '(see above)', '"quoted"', 'x_y', '->'];
  const word = () => (rnd() < 0.03 ? extras[Math.floor(rnd() * extras.length)]! : vocab[Math.floor(vocab.length * rnd() ** 3)]!);
  const sentence = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += (i ? ' ' : '') + word();
    return s.charAt(0).toUpperCase() + s.slice(1) + (rnd() < 0.2 ? '?' : '.');
  };
  const text = (sentences: number) =>
    Array.from({ length: sentences }, () => sentence(5 + Math.floor(rnd() * 15))).join(rnd() < 0.2 ? '\n\n' : ' ');
  const out = createWriteStream(file);
  let written = 0;
  let lines = 0;
  while (written < bytes) {
    let chunk = '';
    for (let k = 0; k < 1000; k++, lines++) {
      const messages = [];
      if (rnd() < 0.3) messages.push({ role: 'system', content: text(1) });
      messages.push({ role: 'user', content: text(1 + Math.floor(rnd() * 3)) });
      messages.push({ role: 'assistant', content: text(2 + Math.floor(rnd() * 8)) });
      chunk += `${JSON.stringify({ messages })}\n`;
    }
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return lines;
}
