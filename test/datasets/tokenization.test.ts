import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { fastEncoder, libraryEncoder } from '../../src/tokenizer/byte-level-encoder.js';
import type { ByteLevelSpec } from '../../src/tokenizer/byte-level-encoder.js';
import { ChatRenderer } from '../../src/tokenizer/chat-renderer.js';
import { loadTrainingTokenizer as loadModelTokenizer } from '../../src/tokenizer/model-tokenizer.js';
import type { ModelTokenizer } from '../../src/tokenizer/model-tokenizer.js';
import type { ChatExample } from '../../src/datasets/validation/index.js';
import { tinyModelFolder } from '../../src/dev/tiny-model-folder.js';
import { runTrainerPython } from '../helpers/python-reference.js';
import { randomChat, randomText, seeded } from '../helpers/random-examples.js';

let modelDir = '';
let tok: ModelTokenizer;
let library: Tokenizer;
let spec: ByteLevelSpec;
let template: Template;
let config: Record<string, unknown>;

beforeAll(async () => {
  modelDir = await tinyModelFolder();
  tok = await loadModelTokenizer(modelDir);
  const json = JSON.parse(await readFile(join(modelDir, 'tokenizer.json'), 'utf8'));
  config = JSON.parse(await readFile(join(modelDir, 'tokenizer_config.json'), 'utf8'));
  library = new Tokenizer(json, config);
  spec = { tokenizer: library, json };
  template = new Template(config.chat_template as string);
});

/** The row as docs/datasets.md defines it: the template rendered as text, tokenized in one go by the library. */
function reference(example: ChatExample): number[] {
  const text = template.render({ messages: example.messages, add_generation_prompt: false, bos_token: '', eos_token: config.eos_token });
  return library.encode(text, { add_special_tokens: false }).ids;
}

/** Decoded maximal runs of trainable tokens. */
function trainableRuns(tokens: Uint32Array, mask: Uint8Array): string[] {
  const runs: string[] = [];
  let run: number[] = [];
  for (let i = 0; i <= tokens.length; i++) {
    if (i < tokens.length && mask[i] === 1) run.push(tokens[i]!);
    else if (run.length) {
      runs.push(library.decode(run, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
      run = [];
    }
  }
  return runs;
}

const expectedRuns = (example: ChatExample) =>
  example.messages.filter((m) => m.role === 'assistant' && m.weight !== 0).map((m) => `${m.content}<|im_end|>`);

describe('tokenization with the real tiny model (init-model)', () => {
  it('loads the tokenizer, the ChatML template and the end-of-turn marker', () => {
    expect(tok).toMatchObject({
      fastEncoding: true,
      fastTemplate: true,
      endOfTurn: '<|im_end|>',
      contextLength: 512,
      hasChatTemplate: true,
    });
    expect(tok.tokenizerSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is exact: the row is the rendered template tokenized at once; trainable tokens are each assistant text + <|im_end|>', () => {
    const examples: ChatExample[] = [
      {
        messages: [
          { role: 'user', content: 'What is 2 + 2?' },
          { role: 'assistant', content: 'It is 4.' },
        ],
      },
      {
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'user', content: 'Say hi in French, then in Japanese.' },
          { role: 'assistant', content: 'Salut ! こんにちは 👋🏽' },
          { role: 'user', content: 'And 𝔘𝔫𝔦𝔠𝔬𝔡𝔢?' },
          { role: 'assistant', content: 'naïve café, 東京 — 👩‍💻 ok' },
        ],
      },
      {
        messages: [
          { role: 'user', content: 'first' },
          { role: 'assistant', content: 'do not learn this', weight: 0 },
          { role: 'user', content: 'second' },
          { role: 'assistant', content: 'learn this one', weight: 1 },
          { role: 'tool', content: '{"result": 42}' },
          { role: 'assistant', content: 'The tool says 42.' },
        ],
      },
      {
        messages: [
          { role: 'user', content: 'code?' },
          { role: 'assistant', content: 'def f(x):\n    return x ** 2\n\nprint(f(3))' },
        ],
      },
    ];
    for (const example of examples) {
      const { tokens, mask } = tok.renderExample(example);
      expect(Array.from(tokens)).toEqual(reference(example));
      expect(trainableRuns(tokens, mask)).toEqual(expectedRuns(example));
    }
  });

  it('stays exact on 300 random conversations (fast skeleton rendering and fast encoder)', () => {
    const rng = seeded(7);
    for (let n = 0; n < 300; n++) {
      const example = randomChat(rng, { leadingWhitespace: false });
      const { tokens, mask } = tok.renderExample(example);
      expect(Array.from(tokens)).toEqual(reference(example));
      expect(trainableRuns(tokens, mask)).toEqual(expectedRuns(example));
    }
  });

  it('masks by byte overlap when the tokenizer merges template and content across the boundary', () => {
    // "assistant\n" + "\n\n  x": the GPT-2 split keeps "\n\n\n " or "\n\n " in one piece.
    const example: ChatExample = {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: '\n\n  indented' },
      ],
    };
    const { tokens, mask } = tok.renderExample(example);
    expect(Array.from(tokens)).toEqual(reference(example));
    const [run] = trainableRuns(tokens, mask);
    // A token that holds the template's "\n" and the content's first characters is trained:
    // the run is the content, possibly preceded by the template's newline, never cut short.
    expect(['\n\n  indented<|im_end|>', '\n\n\n  indented<|im_end|>']).toContain(run);
  });

  it('renders the completion format as prompt + completion + eos, training on the completion and eos', () => {
    const { tokens, mask } = tok.renderExample({ prompt: 'Q: 2 + 2 =', completion: ' 4' });
    expect(Array.from(tokens)).toEqual(library.encode('Q: 2 + 2 = 4<|im_end|>', { add_special_tokens: false }).ids);
    expect(trainableRuns(tokens, mask)).toEqual([' 4<|im_end|>']);
    // A prompt ending in a space shares its token with the completion (" 4"): that token is trained.
    const shared = tok.renderExample({ prompt: 'Q: 2 + 2 = ', completion: '4' });
    expect(Array.from(shared.tokens)).toEqual(Array.from(tokens));
    expect(Array.from(shared.mask)).toEqual(Array.from(mask));
  });

  it('tokenizes like the trainer’s Python reference encoder', () => {
    const rng = seeded(11);
    const texts = Array.from({ length: 200 }, () => randomText(rng, { ascii: true }));
    texts.push('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n  x\n\n\ty<|im_end|>\n');
    const expected = runTrainerPython<number[][]>(
      'from tuneloop_trainer.tokenizer_build import encode\nprint(json.dumps([encode(t) for t in json.load(sys.stdin)]))',
      texts,
    );
    expect(texts.map((t) => Array.from(tok.encode(t)))).toEqual(expected);
  });

  it('fast encoder = library encoder (ids and byte ends) on random Unicode text', () => {
    const fast = fastEncoder(spec);
    const slow = libraryEncoder(spec);
    const rng = seeded(3);
    for (let n = 0; n < 400; n++) {
      const text = randomText(rng, { ascii: false });
      const a = slow(text);
      const b = fast(text);
      expect(Array.from(b.ids), JSON.stringify(text)).toEqual(Array.from(a.ids));
      expect(Array.from(b.ends)).toEqual(Array.from(a.ends));
      expect(b.ends.at(-1) ?? 0).toBe(Buffer.byteLength(text));
    }
  });

  it('skeleton rendering = Jinja rendering for every example shape', () => {
    const renderer = new ChatRenderer(config.chat_template as string, { eos_token: '<|im_end|>', bos_token: '' }, '<|im_end|>');
    expect(renderer.opaque).toBe(true);
    const rng = seeded(5);
    for (let n = 0; n < 300; n++) {
      const example = randomChat(rng, { leadingWhitespace: true });
      expect(renderer.render(example)).toEqual(renderer.renderSlow(example));
    }
  });
});

describe('chat templates the skeleton check must refuse', () => {
  const opaque = (source: string) => new ChatRenderer(source, {}, '<|im_end|>').opaque;
  const loop = (body: string) => `{% for message in messages %}${body}{% endfor %}`;

  it.each([
    ['plain output', loop("{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"), true],
    ['truthiness and type tests', loop('{% if message.content is string and message.content %}{{ message.content }}{% endif %}'), true],
    ['inline if', loop("{{ message.content if message.content is not none else '' }}"), true],
    [
      'slices, indexes, set aliases',
      "{% set first = messages[0] %}{{ first.content }}{% for m in messages[1:] %}{{ m['content'] ~ '|' }}{% endfor %}{{ messages|length }}",
      true,
    ],
    ['trim filter', loop("{{ message['content'] | trim }}"), false],
    ['method call', loop('{{ message.content.strip() }}'), false],
    ['get()', loop("{{ message.get('content') }}"), false],
    ['whole messages to a filter', '{{ messages | tojson }}', false],
    ['content into a variable', loop('{% set c = message.content %}{{ c }}'), false],
    ['comparison', loop("{% if message.content == 'x' %}x{% endif %}{{ message.content }}"), false],
    ['macro', '{% macro r(m) %}{{ m.content }}{% endmacro %}{% for message in messages %}{{ r(message) }}{% endfor %}', false],
    ['filter block', loop('{% filter upper %}{{ message.content }}{% endfilter %}'), false],
    ['dynamic key', loop("{% for k in ['role', 'content'] %}{{ message[k] }}{% endfor %}"), false],
    ['content in arithmetic', loop('{{ (message.content + "x") | upper }}'), false],
  ])('%s', (_name, source, expected) => {
    expect(opaque(source)).toBe(expected);
  });

  it('refuses a template that is not prefix-stable, and a tokenizer that is not byte-level', async () => {
    const unstable =
      "{{ messages|length }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}";
    const renderer = new ChatRenderer(unstable, {}, '<|im_end|>');
    const example: ChatExample = {
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
      ],
    };
    expect(() => renderer.render(example)).toThrow(
      expect.objectContaining({ code: 'template_mismatch', message: expect.stringContaining('not prefix-stable') }),
    );
    expect(() => renderer.renderSlow(example)).toThrow(expect.objectContaining({ code: 'template_mismatch' }));

    const copy = await tinyModelFolder({ copy: true });
    const json = JSON.parse(await readFile(join(copy, 'tokenizer.json'), 'utf8'));
    json.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' };
    json.decoder = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' };
    await writeFile(join(copy, 'tokenizer.json'), JSON.stringify(json));
    await expect(loadModelTokenizer(copy)).rejects.toMatchObject({ code: 'tokenizer_unsupported' });
    await rm(join(copy, 'tokenizer.json'));
    await expect(loadModelTokenizer(copy)).rejects.toMatchObject({
      code: 'tokenizer_invalid',
      message: expect.stringContaining('tokenizer.json is missing'),
    });
    await rm(copy, { recursive: true, force: true });
  });

  it('renders a non-opaque (trimming) template exactly through Jinja', async () => {
    const trimmed =
      "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>' + '\\n' }}{%- endfor %}" +
      "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
    const copy = await tinyModelFolder({ copy: true });
    const cfg = { ...config, chat_template: trimmed };
    await writeFile(join(copy, 'tokenizer_config.json'), JSON.stringify(cfg));
    const t = await loadModelTokenizer(copy);
    expect(t.fastTemplate).toBe(false);
    expect(t.templateSha256).not.toBe(tok.templateSha256);
    const example: ChatExample = {
      messages: [
        { role: 'user', content: '  hi  ' },
        { role: 'assistant', content: '  padded reply \n' },
      ],
    };
    const { tokens, mask } = t.renderExample(example);
    const text = new Template(trimmed).render({ messages: example.messages, add_generation_prompt: false });
    expect(Array.from(tokens)).toEqual(library.encode(text, { add_special_tokens: false }).ids);
    expect(trainableRuns(tokens, mask)).toEqual(['padded reply<|im_end|>']);
    await rm(copy, { recursive: true, force: true });
  });
});
