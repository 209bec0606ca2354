import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenizeToShard } from '../../src/datasets/tokenization/index.js';
import { encodePrompt } from '../../src/inference/generation.js';
import { ModelTokenizer, loadTrainingTokenizer } from '../../src/tokenizer/model-tokenizer.js';
import type { ChatExample, CompletionExample } from '../../src/tokenizer/example.js';
import { buildModelVariants } from '../helpers/model-variants.js';
import type { ModelVariants } from '../helpers/model-variants.js';

/**
 * Train/serve parity: for every loadable model folder the tests build, the tokens a
 * conversation's prompt becomes in a training shard (everything before the first trained
 * token) are the tokens the inference route prompts the model with for the same messages.
 * Same for completion prompts. Texts include what tokenizers treat specially: non-NFC
 * accents, emoji, special-token look-alikes, leading and trailing whitespace.
 */

let variants: ModelVariants;
let tmp = '';

const texts = [
  'What is 2 + 2?',
  'cafe\u0301 and re\u0301sume\u0301 (decomposed accents)',
  '  leading spaces, trailing newline\n',
  'emoji 👩‍💻🎉 and 東京',
  'looks special: <|im_start|> but is text',
];

const conversations: ChatExample[] = texts.map((text, i) => ({
  messages: [
    ...(i % 2 === 0 ? [{ role: 'system' as const, content: 'You are terse.' }] : []),
    { role: 'user', content: text },
    { role: 'assistant', content: `first reply ${i}`, weight: 0 },
    { role: 'user', content: `and then ${text}` },
    { role: 'assistant', content: `Answer ${i}: ${text}` },
  ],
}));
const completions: CompletionExample[] = texts.map((text, i) => ({ prompt: text, completion: ` done ${i}` }));

/** Each example's tokens before its first trained token, read from a shard (trainer/FORMAT.md). */
function promptsInShard(buf: Buffer): number[][] {
  const u64 = (at: number) => Number(buf.readBigUInt64LE(at));
  const [tokensAt, maskAt, offsetsAt, examples] = [u64(32), u64(40), u64(48), u64(24)];
  const prompts: number[][] = [];
  for (let e = 0; e < examples; e++) {
    const [from, to] = [u64(offsetsAt + 8 * e), u64(offsetsAt + 8 * (e + 1))];
    const ids: number[] = [];
    for (let j = from; j < to && buf[maskAt + j] === 0; j++) ids.push(buf.readUInt32LE(tokensAt + 4 * j));
    prompts.push(ids);
  }
  return prompts;
}

async function trainingPrompts(dir: string, name: string, lines: object[]): Promise<number[][]> {
  const dataset = join(tmp, `${name}.jsonl`);
  await writeFile(dataset, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  const shard = join(tmp, `${name}.tlshard`);
  await tokenizeToShard(dataset, await loadTrainingTokenizer(dir), shard);
  return promptsInShard(await readFile(shard));
}

beforeAll(async () => {
  variants = await buildModelVariants();
  tmp = await mkdtemp(join(tmpdir(), 'tuneloop-parity-'));
}, 120_000);

afterAll(async () => {
  await variants?.remove();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the prompt a model is trained on is the prompt it is served', () => {
  it('covers every loadable model folder, including each BOS, normalizer and template set-up', () => {
    expect(variants.loadable.map((v) => v.name)).toEqual([
      'single',
      'sharded',
      'bos from add_bos_token',
      'bos from the post-processor',
      'NFC normalizer',
      'template in chat_template.jinja',
      'named templates',
    ]);
  });

  it('chat: the shard’s tokens before the reply equal the inference route’s prompt ids', async () => {
    for (const [v, variant] of variants.loadable.entries()) {
      const served = await ModelTokenizer.load(variant.dir);
      const trained = await trainingPrompts(variant.dir, `chat-${v}`, conversations);
      conversations.forEach((conversation, i) => {
        const input = { messages: conversation.messages.slice(0, -1) };
        expect(encodePrompt(served, 1024, input).ids, `${variant.name}, conversation ${i}`).toEqual(trained[i]);
        expect(trained[i]!.length).toBeGreaterThan(0);
      });
    }
  });

  it('completion: the shard’s prompt tokens (BOS included) equal the inference route’s prompt ids', async () => {
    for (const [v, variant] of variants.loadable.entries()) {
      const served = await ModelTokenizer.load(variant.dir);
      const trained = await trainingPrompts(variant.dir, `completion-${v}`, completions);
      completions.forEach((example, i) => {
        expect(encodePrompt(served, 1024, { prompt: example.prompt }).ids, `${variant.name}, prompt ${i}`).toEqual(trained[i]);
      });
      // The BOS variants really do start prompts with BOS (id 1021); the others do not.
      const bos = variant.name.startsWith('bos');
      expect(
        trained.every((ids) => (ids[0] === 1021) === bos),
        variant.name,
      ).toBe(true);
    }
  });
});
