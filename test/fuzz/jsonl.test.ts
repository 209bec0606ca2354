import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { engines } from '../helpers/db.js';
import { addTinyModel } from '../helpers/training.js';
import { waitValidated } from '../helpers/datasets-api.js';
import { fuzzOptions } from '../helpers/fuzz.js';
import { VALIDATION_ERROR_CODES } from '../../src/datasets/validation/validation-report.js';

/**
 * Random and mutated JSONL through the real upload route and the real validator: random
 * JSON, deep nesting, huge numbers, NULs and control characters, lone surrogates (escaped
 * and as raw bytes), other encodings (UTF-16/32 with and without a byte-order mark),
 * random bytes, truncation, compression. Whatever the bytes, the upload is answered
 * without a 5xx, the dataset ends READY or INVALID (never stuck VALIDATING) with codes
 * from docs/datasets.md — line-numbered where they are about a line — and the process
 * keeps serving. A failure prints fast-check's seed and path; TUNELOOP_FUZZ_SEED replays it.
 */

/** Codes about the whole file (`line: null`); every other code names its line. */
const WHOLE_FILE = new Set([
  'too_few_examples',
  'file_too_large',
  'empty_file',
  'unsupported_encoding',
  'binary_file',
  'tokenizer_invalid',
  'tokenizer_unsupported',
]);
/** Codes a file can earn (docs/datasets.md; the server's own failures are not among them). */
const FILE_CODES = new Set<string>([...WHOLE_FILE, ...VALIDATION_ERROR_CODES]);

const text = fc.string({ unit: 'binary', maxLength: 40 }); // any code point, lone surrogates included
const role = fc.oneof(fc.constantFrom('system', 'user', 'assistant', 'tool'), text);
const chatLine = fc.tuple(text, text, fc.option(role, { nil: undefined })).map(([q, a, r]) =>
  JSON.stringify({
    messages: [
      { role: r ?? 'user', content: q },
      { role: 'assistant', content: a },
    ],
  }),
);
const completionLine = fc.tuple(text, text).map(([prompt, completion]) => JSON.stringify({ prompt, completion }));
const hugeNumber = fc.constantFrom(
  '1e400',
  '-1e400',
  '1'.repeat(400),
  '0.'.padEnd(500, '9'),
  '-0',
  '1e-400',
  '123456789012345678901234567890',
);
const oddLine = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.integer({ min: 1, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.integer({ min: 1, max: 20_000 }).map((n) => `{"messages":${'['.repeat(n)}`),
  fc.integer({ min: 1, max: 2_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
  hugeNumber.map((n) => `{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","weight":${n}}]}`),
  hugeNumber.map((n) => `{"prompt":${n},"completion":"x"}`),
  text.map((s) => `{"messages":[{"role":"user","content":"${s}"}]}`), // unescaped: controls, quotes, NUL
  fc.constantFrom('{"messages":\u0000}', '{"\\u0000":1}', '{"messages":[{"role":"user","content":"\\ud800"}]}', '', '   ', '\u0000'),
);
const cleanChatLine = fc
  .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }))
  .map(([q, a]) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: q },
        { role: 'assistant', content: a },
      ],
    }),
  );
const messyLines = fc.array(
  fc.oneof({ weight: 6, arbitrary: chatLine }, { weight: 1, arbitrary: completionLine }, { weight: 3, arbitrary: oddLine }),
  {
    minLength: 0,
    maxLength: 24,
  },
);
/** A file that should validate (READY unless a mutation breaks it), or a messy one. */
const lines = fc.oneof(fc.array(cleanChatLine, { minLength: 10, maxLength: 20 }), messyLines, messyLines);

type Mutation = (bytes: Buffer) => Buffer;
const mutation: fc.Arbitrary<[string, Mutation]> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<[string, Mutation]>(['none', (b) => b]) },
  fc.constantFrom<[string, Mutation]>(
    ['utf16le', (b) => Buffer.from(b.toString('utf8'), 'utf16le')],
    ['utf16le+bom', (b) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(b.toString('utf8'), 'utf16le')])],
    ['utf16be+bom', (b) => Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(b.toString('utf8'), 'utf16le').swap16()])],
    ['utf32le', (b) => Buffer.from(Uint32Array.from([...b.toString('utf8')].map((c) => c.codePointAt(0) ?? 0)).buffer)],
    ['utf8-bom', (b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b])],
    ['latin1', (b) => Buffer.from(b.toString('utf8'), 'latin1')],
    ['crlf', (b) => Buffer.from(b.toString('utf8').replaceAll('\n', '\r\n'))],
    ['gzip', (b) => gzipSync(b)],
  ),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map<[string, Mutation]>(([at, junk]) => [
    `insert ${Buffer.from(junk).toString('hex')} at ${at}`,
    (b) => {
      const i = b.length ? at % (b.length + 1) : 0;
      return Buffer.concat([b.subarray(0, i), junk, b.subarray(i)]);
    },
  ]),
  fc
    .tuple(fc.nat(), fc.constantFrom([0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0x00], [0xc0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]))
    .map<[string, Mutation]>(([at, bytes]) => [
      `raw ${Buffer.from(bytes).toString('hex')} at ${at}`,
      (b) => {
        const i = b.length ? at % (b.length + 1) : 0;
        return Buffer.concat([b.subarray(0, i), Buffer.from(bytes), b.subarray(i)]);
      },
    ]),
  fc.nat().map<[string, Mutation]>((at) => [`truncate at ${at}`, (b) => b.subarray(0, b.length ? at % b.length : 0)]),
  fc.uint8Array({ minLength: 1, maxLength: 2048 }).map<[string, Mutation]>((bytes) => ['random bytes', () => Buffer.from(bytes)]),
);

describe.each(engines())('fuzzed JSONL uploads end READY or INVALID with specific codes (%s)', (engine) => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await startTestApp(engine);
    ({ apiKey: key } = await t.account('fuzz'));
    await addTinyModel(t);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('every upload is answered without a 5xx and validates to READY or INVALID; the process keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(lines, mutation, fc.boolean(), async (ls, [, mutate], multipart) => {
        const body = mutate(Buffer.from(ls.length ? `${ls.join('\n')}\n` : ''));
        const response = multipart
          ? await fetch(`${t.url}/api/datasets`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form(body) })
          : await fetch(`${t.url}/api/datasets`, {
              method: 'POST',
              headers: { authorization: `Bearer ${key}`, 'content-type': 'application/jsonl' },
              body: new Uint8Array(body),
            });
        const answer = (await response.json()) as { id?: string; code?: string };
        expect(response.status).toBeLessThan(500);
        if (response.status >= 400) {
          expect(answer.code).toMatch(/^[A-Z_]+$/);
          return;
        }
        const done = await waitValidated(t, key, answer.id ?? '', 30_000);
        expect(['READY', 'INVALID']).toContain(done.status);
        if (done.status === 'READY') expect(done.errors).toEqual([]);
        else expect(done.errors.length).toBeGreaterThan(0);
        for (const e of done.errors) {
          expect(FILE_CODES).toContain(e.code);
          if (WHOLE_FILE.has(e.code)) expect(e.line).toBeNull();
          else expect(e.line).toBeGreaterThanOrEqual(1);
          expect(e.message).not.toMatch(/\u0000/);
        }
      }),
      fuzzOptions(120),
    );
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  }, 180_000);
});

function form(bytes: Buffer): FormData {
  const f = new FormData();
  f.append('file', new Blob([new Uint8Array(bytes)], { type: 'application/jsonl' }), 'fuzz.jsonl');
  return f;
}
