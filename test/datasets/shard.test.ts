import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeShard } from '../../src/datasets/shards/shard-writer.js';
import { loadTrainingTokenizer as loadModelTokenizer } from '../../src/tokenizer/model-tokenizer.js';
import type { ModelTokenizer } from '../../src/tokenizer/model-tokenizer.js';
import {
  countBillableTokens,
  ensureShard,
  readShardLengths,
  shardCacheKey,
  shardPaths,
  tokenizeToShard,
} from '../../src/datasets/tokenization/index.js';
import { validateDataset } from '../../src/datasets/validation/index.js';
import type { Example } from '../../src/datasets/validation/index.js';
import { preferenceSides } from '../../src/datasets/validation/check-example.js';
import type { PreferenceExample } from '../../src/datasets/validation/check-example.js';
import { promptLength } from '../../src/datasets/validation/render-sequences.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { runTrainerPython } from '../helpers/python-reference.js';
import { randomChat, seeded } from '../helpers/random-examples.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tmp = useTempDir();
let tok: ModelTokenizer;
let modelDir = '';
const examples: Example[] = [];
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/datasets/${name}`, import.meta.url));

/** Reads a shard by FORMAT.md, independently of the writer. */
function parseShard(buf: Buffer) {
  const u64 = (at: number) => Number(buf.readBigUInt64LE(at));
  const header = {
    magic: buf.subarray(0, 8).toString('latin1'),
    version: buf.readUInt32LE(8),
    tokenBytes: buf.readUInt32LE(12),
    numTokens: u64(16),
    numExamples: u64(24),
    tokensOffset: u64(32),
    maskOffset: u64(40),
    offsetsOffset: u64(48),
    reserved: u64(56),
  };
  const tokens = Array.from({ length: header.numTokens }, (_, i) => buf.readUInt32LE(header.tokensOffset + 4 * i));
  const mask = Array.from(buf.subarray(header.maskOffset, header.maskOffset + header.numTokens));
  const offsets = Array.from({ length: header.numExamples + 1 }, (_, i) => u64(header.offsetsOffset + 8 * i));
  return { header, tokens, mask, offsets, size: buf.length };
}

beforeAll(async () => {
  modelDir = await tinyModelFolder();
  tok = await loadModelTokenizer(modelDir);
  const rng = seeded(21);
  for (let i = 0; i < 400; i++) examples.push(randomChat(rng, { leadingWhitespace: true }));
  for (let i = 0; i < 5; i++)
    examples.push({
      messages: [
        { role: 'user', content: 'long '.repeat(300) },
        { role: 'assistant', content: 'ok' },
      ],
    });
  await writeFile(tmp.file('dataset.jsonl'), `${examples.map((e) => JSON.stringify(e)).join('\n')}\n`);
});

describe('token shards', () => {
  it('writes FORMAT.md v1 byte for byte like the trainer’s writer, and the trainer’s reader accepts it', async () => {
    const rendered = examples.slice(0, 20).map((e) => tok.renderExample(e));
    const path = tmp.file('small.tlshard');
    const written = writeShard(path, rendered);
    const buf = await readFile(path);
    const shard = parseShard(buf);
    const totalTokens = rendered.reduce((n, r) => n + r.tokens.length, 0);
    expect(written).toEqual({ examples: 20, tokens: totalTokens, bytes: buf.length });
    expect(shard.header).toEqual({
      magic: 'TLSHARD\0',
      version: 1,
      tokenBytes: 4,
      numTokens: totalTokens,
      numExamples: 20,
      tokensOffset: 64,
      maskOffset: Math.ceil((64 + 4 * totalTokens) / 8) * 8,
      offsetsOffset: Math.ceil((Math.ceil((64 + 4 * totalTokens) / 8) * 8 + totalTokens) / 8) * 8,
      reserved: 0,
    });
    expect(shard.tokens).toEqual(rendered.flatMap((r) => Array.from(r.tokens)));
    expect(shard.mask).toEqual(rendered.flatMap((r) => Array.from(r.mask)));
    const pythonPath = tmp.file('python.tlshard');
    const fromPython = runTrainerPython<{ examples: number; tokens: number[]; mask: number[] }>(
      [
        'from tuneloop_trainer.shard import open_shard, write_shard',
        'inp = json.load(sys.stdin)',
        'write_shard(inp["out"], [(e["tokens"], e["mask"]) for e in inp["examples"]])',
        's = open_shard(inp["ours"], vocab_size=1024)',
        'print(json.dumps({"examples": s.num_examples, "tokens": s.tokens.tolist(), "mask": s.mask.tolist()}))',
      ].join('\n'),
      { out: pythonPath, ours: path, examples: rendered.map((r) => ({ tokens: Array.from(r.tokens), mask: Array.from(r.mask) })) },
    );
    expect(fromPython).toEqual({ examples: 20, tokens: shard.tokens, mask: shard.mask });
    expect((await readFile(pythonPath)).equals(buf)).toBe(true);
  });

  it('tokenizes a dataset into a shard equal to rendering each example, in parallel too, and caches it', async () => {
    const dataDir = join(tmp.path, 'data');
    const first = await ensureShard({ dataDir, datasetSha256: 'ab'.repeat(32), datasetPath: tmp.file('dataset.jsonl'), tokenizer: tok });
    expect(first.cached).toBe(false);
    expect(first.shardPath).toBe(
      join(
        dataDir,
        'shards',
        'ab',
        'ab'.repeat(32),
        `${shardCacheKey({ datasetSha256: 'ab'.repeat(32), tokenizerSha256: tok.tokenizerSha256, templateSha256: tok.templateSha256 })}.tlshard`,
      ),
    );
    const shard = parseShard(await readFile(first.shardPath));
    const rendered = examples.map((e) => tok.renderExample(e));
    expect(shard.tokens).toEqual(rendered.flatMap((r) => Array.from(r.tokens)));
    expect(shard.mask).toEqual(rendered.flatMap((r) => Array.from(r.mask)));
    expect(shard.offsets.at(-1)).toBe(shard.header.numTokens);
    const lengths = rendered.map((r) => r.tokens.length);
    expect(first).toMatchObject({
      examples: examples.length,
      totalTokens: shard.header.numTokens,
      trainableTokens: rendered.reduce((n, r) => n + r.mask.slice(1).reduce((a, b) => a + b, 0), 0),
      maxTokens: Math.max(...lengths),
      shardBytes: shard.size,
      datasetSha256: 'ab'.repeat(32),
    });
    expect(await readShardLengths(first.shardPath)).toEqual(first.lengths);

    const again = await ensureShard({ dataDir, datasetSha256: 'ab'.repeat(32), datasetPath: tmp.file('dataset.jsonl'), tokenizer: tok });
    expect(again).toEqual({ ...first, cached: true });

    const parallelPath = tmp.file('parallel.tlshard');
    const parallel = await tokenizeToShard(tmp.file('dataset.jsonl'), tok, parallelPath, {
      concurrency: 3,
      parallelThreshold: 0,
      datasetSha256: 'ab'.repeat(32),
    });
    expect({ ...parallel, cached: true, shardPath: first.shardPath }).toEqual(again);
    expect((await readFile(parallelPath)).equals(await readFile(first.shardPath))).toBe(true);
    // No part or temp files are left beside the shards.
    expect((await readdir(tmp.path)).filter((f) => f.startsWith('.'))).toEqual([]);
    expect((await readdir(join(dataDir, 'shards', 'ab', 'ab'.repeat(32)))).sort()).toEqual(
      [`${first.shardPath.split('/').at(-1)!.replace('.tlshard', '')}.json`, first.shardPath.split('/').at(-1)!].sort(),
    );
  }, 60_000);

  it('keys the cache on dataset, tokenizer and template', () => {
    const id = { datasetSha256: 'a'.repeat(64), tokenizerSha256: 'b'.repeat(64), templateSha256: 'c'.repeat(64) };
    const keys = new Set(
      [
        id,
        { ...id, datasetSha256: 'd'.repeat(64) },
        { ...id, tokenizerSha256: 'd'.repeat(64) },
        { ...id, templateSha256: 'd'.repeat(64) },
      ].map(shardCacheKey),
    );
    expect(keys.size).toBe(4);
    expect(shardPaths('/data', id)).toEqual({
      key: shardCacheKey(id),
      shard: `/data/shards/aa/${'a'.repeat(64)}/${shardCacheKey(id)}.tlshard`,
      summary: `/data/shards/aa/${'a'.repeat(64)}/${shardCacheKey(id)}.json`,
    });
  });

  it('refuses a line that is not a valid example, naming it, and leaves no shard', async () => {
    const lines = examples.slice(0, 300).map((e) => JSON.stringify(e));
    lines[250] = '{"messages": [{"role": "user", "content": "no reply"}]}';
    await writeFile(tmp.file('bad.jsonl'), lines.join('\n'));
    for (const concurrency of [1, 2]) {
      const path = tmp.file(`bad-${concurrency}.tlshard`);
      await expect(tokenizeToShard(tmp.file('bad.jsonl'), tok, path, { concurrency, parallelThreshold: 0 })).rejects.toMatchObject({
        code: 'dataset_invalid',
        details: { line: 251 },
      });
    }
    expect((await readdir(tmp.path)).filter((f) => f.startsWith('bad-') || f.startsWith('.'))).toEqual([]);
  }, 60_000);

  it('bills Σ min(example length, maxSeqLength) per epoch', () => {
    expect(
      countBillableTokens(
        [
          [10, 2],
          [600, 1],
        ],
        512,
      ),
    ).toBe(532);
    expect(
      countBillableTokens(
        {
          lengths: [
            [10, 2],
            [600, 1],
          ],
        },
        1000,
      ),
    ).toBe(620);
    expect(() => countBillableTokens([], 0)).toThrow(RangeError);
  });
});

describe('validation with the model tokenizer', () => {
  it('reports token stats equal to the shard’s, and example_too_long / example_truncated by tokens', async () => {
    const report = await validateDataset(tmp.file('dataset.jsonl'), {
      tokenizer: tok,
      limits: { maxTokensPerExample: null, truncateAt: 256 },
    });
    const summary = await tokenizeToShard(tmp.file('dataset.jsonl'), tok, tmp.file('stats.tlshard'));
    expect(report.ok).toBe(true);
    expect(report.stats.tokens).toEqual({
      total: summary.totalTokens,
      mean: summary.meanTokens,
      max: summary.maxTokens,
      trainable: summary.trainableTokens,
      lengths: summary.lengths,
    });
    const lengths = examples.map((e) => tok.renderExample(e).tokens.length);
    const longLines = lengths.flatMap((n, i) => (n > 256 ? [i + 1] : []));
    expect(longLines.length).toBeGreaterThan(5);
    const truncated = report.warnings.filter((w) => w.code === 'example_truncated');
    expect(truncated.map((w) => w.line)).toEqual(longLines.slice(0, 100));
    expect(truncated[0]!.message).toBe(`the example is ${lengths[longLines[0]! - 1]} tokens long: training will cut it at 256 tokens`);

    const strict = await validateDataset(tmp.file('dataset.jsonl'), { tokenizer: tok, limits: { maxTokensPerExample: 256 } });
    expect(strict.errorCount).toBe(longLines.length);
    expect(strict.errors.map((e) => [e.line, e.code])).toEqual(longLines.slice(0, 100).map((l) => [l, 'example_too_long']));
  });

  it('writes the shard in the validation pass itself, identical to tokenizeToShard, only when valid', async () => {
    const separate = tmp.file('separate.tlshard');
    const summary = await tokenizeToShard(tmp.file('dataset.jsonl'), tok, separate);
    for (const concurrency of [1, 2]) {
      const shardPath = tmp.file(`one-pass-${concurrency}.tlshard`);
      const report = await validateDataset(tmp.file('dataset.jsonl'), {
        tokenizer: tok,
        shardPath,
        concurrency,
        parallelThreshold: 0,
        limits: { maxTokensPerExample: null },
      });
      expect(report.ok).toBe(true);
      expect(report.shard).toEqual({ ...summary, cached: undefined });
      expect((await readFile(shardPath)).equals(await readFile(separate))).toBe(true);
      const again = await validateDataset(tmp.file('dataset.jsonl'), { tokenizer: tok, shardPath, limits: { maxTokensPerExample: null } });
      expect(again.shard).toEqual(report.shard);
    }
    const invalid = tmp.file('invalid-one-pass.tlshard');
    const report = await validateDataset(tmp.file('dataset.jsonl'), {
      tokenizer: tok,
      shardPath: invalid,
      limits: { maxTokensPerExample: 256 },
    });
    expect(report.ok).toBe(false);
    expect(report.shard).toBeUndefined();
    expect((await readdir(tmp.path)).filter((f) => f.startsWith('invalid-one-pass') || f.startsWith('.'))).toEqual([]);
  }, 60_000);

  it('defaults maxTokensPerExample to the model context (512 tokens)', async () => {
    const report = await validateDataset(fixture('example_too_long.jsonl'), { tokenizer: tok });
    expect(report.errors).toEqual([
      {
        line: 6,
        code: 'example_too_long',
        field: null,
        message: expect.stringMatching(/is \d+ tokens long, over the limit of 512 tokens/),
      },
    ]);
  });

  it('reports template_error on the line the model’s chat template refuses', async () => {
    const copy = await tinyModelFolder({ copy: true });
    const config = JSON.parse(await readFile(join(copy, 'tokenizer_config.json'), 'utf8'));
    config.chat_template =
      "{%- for message in messages %}{%- if message['role'] == 'tool' %}{{- raise_exception('this model has no tool role') }}{%- endif %}" +
      "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}" +
      "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
    await writeFile(join(copy, 'tokenizer_config.json'), JSON.stringify(config));
    const strictTok = await loadModelTokenizer(copy);
    const lines = Array.from({ length: 12 }, (_, i) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: `q${i}` },
          { role: 'assistant', content: `a${i}` },
        ],
      }),
    );
    lines[4] = JSON.stringify({
      messages: [
        { role: 'user', content: 'q' },
        { role: 'tool', content: '1' },
        { role: 'assistant', content: 'a' },
      ],
    });
    await writeFile(tmp.file('tool.jsonl'), lines.join('\n'));
    const report = await validateDataset(tmp.file('tool.jsonl'), { tokenizer: strictTok });
    expect(report.errors).toEqual([
      { line: 5, code: 'template_error', field: null, message: expect.stringContaining('this model has no tool role') },
    ]);
    await rm(copy, { recursive: true, force: true });
  });

  it('writes a preference dataset as a preference shard (FORMAT.md): flag bit 0, chosen then rejected per pair, prompt untrained', async () => {
    const file = fixture('valid_preference.jsonl');
    const pairs = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as PreferenceExample);
    const summary = await tokenizeToShard(file, tok, tmp.file('pairs.tlshard'));
    const shard = parseShard(await readFile(tmp.file('pairs.tlshard')));
    expect(shard.header.reserved).toBe(1); // flags: bit 0
    expect(summary).toMatchObject({ examples: 24, preference: true });
    const rendered = pairs.flatMap((p) => preferenceSides(p).map((side) => tok.renderExample(side)));
    expect(shard.tokens).toEqual(rendered.flatMap((r) => Array.from(r.tokens)));
    expect(shard.mask).toEqual(rendered.flatMap((r) => Array.from(r.mask)));
    // Only the answer (and its end-of-turn) is trained on; both sides share the prompt.
    const [chosen, rejected] = [rendered[0]!, rendered[1]!];
    const prompt = promptLength(chosen.mask);
    expect(promptLength(rejected.mask)).toBe(prompt);
    expect(Array.from(chosen.tokens.slice(0, prompt))).toEqual(Array.from(rejected.tokens.slice(0, prompt)));
    expect(tok.decode(Array.from(chosen.tokens.slice(prompt)))).toContain('2.');
    expect(tok.decode(Array.from(rejected.tokens.slice(prompt)))).toContain('I think it is 3.');
    // The validation pass writes the same shard; the trainer's reader takes it as pairs.
    const report = await validateDataset(file, { tokenizer: tok, shardPath: tmp.file('pairs-one-pass.tlshard') });
    expect(report.ok).toBe(true);
    expect((await readFile(tmp.file('pairs-one-pass.tlshard'))).equals(await readFile(tmp.file('pairs.tlshard')))).toBe(true);
    const fromPython = runTrainerPython<{ examples: number; preference: boolean }>(
      [
        'from tuneloop_trainer.shard import open_shard',
        's = open_shard(json.load(sys.stdin)["path"], vocab_size=1024)',
        'print(json.dumps({"examples": s.num_examples, "preference": s.preference}))',
      ].join('\n'),
      { path: tmp.file('pairs.tlshard') },
    );
    expect(fromPython).toEqual({ examples: 24, preference: true });
    // Billing counts both sequences: the prompt twice.
    expect(countBillableTokens(summary, 4096)).toBe(rendered.reduce((n, r) => n + r.tokens.length, 0));
  });

  it('refuses a pair whose prompt leaves no answer token after truncation, and measures each side against the limit', async () => {
    const file = fixture('valid_preference.jsonl');
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    const long = JSON.parse(lines[3]!) as PreferenceExample;
    long.input.messages[1]!.content = 'long '.repeat(200);
    lines[3] = JSON.stringify(long);
    await writeFile(tmp.file('long-prompt.jsonl'), `${lines.join('\n')}\n`);
    const sides = preferenceSides(long).map((side) => tok.renderExample(side));
    const prompt = promptLength(sides[0]!.mask);
    expect(prompt).toBeGreaterThan(64);
    const cut = await validateDataset(tmp.file('long-prompt.jsonl'), { tokenizer: tok, limits: { truncateAt: 64 } });
    expect(cut.errors).toEqual([
      {
        line: 4,
        code: 'example_too_long',
        field: 'input.messages',
        message: `the prompt is ${prompt} tokens long: cut at 64 tokens, nothing of the answers is left`,
      },
    ]);
    const limit = await validateDataset(tmp.file('long-prompt.jsonl'), { tokenizer: tok, limits: { maxTokensPerExample: 100 } });
    expect(limit.errors.map((e) => [e.line, e.code, e.message])).toEqual([
      [
        4,
        'example_too_long',
        `the preferred sequence (prompt and answer) is ${sides[0]!.tokens.length} tokens long, over the limit of 100 tokens`,
      ],
      [
        4,
        'example_too_long',
        `the non-preferred sequence (prompt and answer) is ${sides[1]!.tokens.length} tokens long, over the limit of 100 tokens`,
      ],
    ]);
  });
});
