import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VALIDATION_ERROR_CODES, validateDataset } from '../../src/datasets/validation/index.js';
import type { ValidationLimits } from '../../src/datasets/validation/index.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/datasets/${name}`, import.meta.url));

/**
 * One file per error code (test/fixtures/datasets/README.md): each must produce exactly
 * that error, on that line, at that field — and nothing else.
 */
const corpus: Array<{
  file: string;
  code: string;
  line: number | null;
  field: string | null;
  limits?: Partial<ValidationLimits>;
  message: RegExp;
}> = [
  { file: 'invalid_utf8.jsonl', code: 'invalid_utf8', line: 4, field: null, message: /byte 0xe9 at byte 47 of the line/ },
  { file: 'lone_surrogate.jsonl', code: 'invalid_utf8', line: 3, field: 'messages[0].content', message: /lone UTF-16 surrogate/ },
  { file: 'invalid_json.jsonl', code: 'invalid_json', line: 9, field: null, message: /not valid JSON/ },
  { file: 'blank_line.jsonl', code: 'invalid_json', line: 6, field: null, message: /blank line in the middle/ },
  { file: 'not_an_object.jsonl', code: 'not_an_object', line: 3, field: null, message: /expected a JSON object, got an array/ },
  { file: 'missing_messages.jsonl', code: 'missing_messages', line: 5, field: 'messages', message: /it is missing/ },
  { file: 'unrecognized_role.jsonl', code: 'unrecognized_role', line: 8, field: 'messages[1].role', message: /"bot"/ },
  {
    file: 'missing_content.jsonl',
    code: 'missing_content',
    line: 2,
    field: 'messages[0].content',
    message: /to be a string; it is missing/,
  },
  { file: 'unrecognized_key.jsonl', code: 'unrecognized_key', line: 10, field: 'metadata', message: /"metadata"/ },
  { file: 'no_assistant_message.jsonl', code: 'no_assistant_message', line: 7, field: 'messages', message: /role "assistant"/ },
  { file: 'empty_completion.jsonl', code: 'empty_completion', line: 4, field: 'completion', message: /non-empty string; it is blank/ },
  {
    file: 'mixed_formats.jsonl',
    code: 'mixed_formats',
    line: 11,
    field: null,
    message: /completion example but the file is in chat format \(detected on line 1\)/,
  },
  {
    file: 'example_too_long.jsonl',
    code: 'example_too_long',
    line: 6,
    field: null,
    limits: { maxLineBytes: 1024 },
    message: /over the 1024-byte limit/,
  },
  { file: 'too_few_examples.jsonl', code: 'too_few_examples', line: null, field: null, message: /holds 3 examples; at least 10/ },
  {
    file: 'file_too_large.jsonl',
    code: 'file_too_large',
    line: null,
    field: null,
    limits: { maxBytes: 1000 },
    message: /over the 1000 bytes limit/,
  },
  {
    file: 'file_too_large.jsonl',
    code: 'file_too_large',
    line: null,
    field: null,
    limits: { maxExamples: 11 },
    message: /holds 12 examples; at most 11/,
  },
  { file: 'empty_file.jsonl', code: 'empty_file', line: null, field: null, message: /no examples/ },
  { file: 'invalid_value.jsonl', code: 'invalid_value', line: 5, field: 'messages[1].weight', message: /0 or 1, got number 2/ },
  { file: 'nul_byte.jsonl', code: 'invalid_json', line: 7, field: null, message: /a raw NUL byte \(0x00\) at byte 13 of the line/ },
  {
    file: 'utf16le_bom.jsonl',
    code: 'unsupported_encoding',
    line: null,
    field: null,
    message: /UTF-16 LE text \(byte-order mark FF FE\); datasets must be UTF-8/,
  },
  { file: 'utf16be.jsonl', code: 'unsupported_encoding', line: null, field: null, message: /UTF-16 BE text \(no byte-order mark/ },
  { file: 'utf32le.jsonl', code: 'unsupported_encoding', line: null, field: null, message: /UTF-32 LE text/ },
  { file: 'gzipped.jsonl', code: 'binary_file', line: null, field: null, message: /a gzip-compressed file/ },
  // Preference data (DPO): a prompt with a preferred and a non-preferred answer per line.
  { file: 'missing_output.jsonl', code: 'missing_output', line: 3, field: 'non_preferred_output', message: /it is missing/ },
  {
    file: 'too_many_output_messages.jsonl',
    code: 'too_many_output_messages',
    line: 5,
    field: 'preferred_output',
    message: /exactly one assistant message in "preferred_output", got 2 messages/,
  },
  {
    file: 'output_not_assistant.jsonl',
    code: 'output_not_assistant',
    line: 7,
    field: 'non_preferred_output[0].role',
    message: /"role": "assistant"; got the string "user"/,
  },
  {
    file: 'identical_outputs.jsonl',
    code: 'identical_outputs',
    line: 9,
    field: 'non_preferred_output[0].content',
    message: /the same text/,
  },
  {
    file: 'prompt_not_user_turn.jsonl',
    code: 'prompt_not_user_turn',
    line: 10,
    field: 'input.messages[2].role',
    message: /must end with a "user" message.*"assistant"/,
  },
];

describe('validation corpus: one bad file per error code', () => {
  it.each(corpus)('$file → $code on line $line', async ({ file, code, line, field, limits, message }) => {
    const report = await validateDataset(fixture(file), { limits });
    expect(report.ok).toBe(false);
    expect(report.errorCount).toBe(1);
    expect(report.errors).toEqual([{ line, code, field, message: expect.stringMatching(message) }]);
  });

  it('covers every error code that needs no tokenizer', () => {
    const covered = new Set(corpus.map((c) => c.code));
    // template_error needs a model's template: see tokenization.test.ts.
    const missing = VALIDATION_ERROR_CODES.filter((c) => !covered.has(c) && c !== 'template_error');
    expect(missing).toEqual([]);
  });

  it('accepts the valid chat and completion files with their stats', async () => {
    const chat = await validateDataset(fixture('valid_chat.jsonl'));
    expect(chat).toMatchObject({ ok: true, errors: [], errorCount: 0, warnings: [], warningCount: 0 });
    expect(chat.stats).toMatchObject({
      lines: 12,
      examples: 12,
      format: 'chat',
      messagesPerRole: { system: 12, user: 12, assistant: 12, tool: 0 },
      tokens: null,
    });
    const completion = await validateDataset(fixture('valid_completion.jsonl'));
    expect(completion).toMatchObject({ ok: true, errorCount: 0 });
    expect(completion.stats).toMatchObject({ examples: 12, format: 'completion', messagesPerRole: null });
    const preference = await validateDataset(fixture('valid_preference.jsonl'));
    expect(preference).toMatchObject({ ok: true, errorCount: 0, warningCount: 0 });
    // Both answers count as assistant messages.
    expect(preference.stats).toMatchObject({
      examples: 12,
      format: 'preference',
      messagesPerRole: { system: 12, user: 12, assistant: 24, tool: 0 },
    });
  });

  it('preference data: every problem of a pair is reported, and a chat line in it is mixed_formats', async () => {
    const { checkExample } = await import('../../src/datasets/validation/check-example.js');
    const issues: Array<{ code: string; field: string | null }> = [];
    const ok = checkExample(
      {
        input: { messages: [] },
        preferred_output: [],
        non_preferred_output: [{ role: 'assistant', content: '  ', extra: 1 }],
      },
      'preference',
      1,
      issues as never,
    );
    expect(ok).toBe(false);
    expect(issues.map((i) => [i.code, i.field])).toEqual([
      ['missing_messages', 'input.messages'],
      ['missing_output', 'preferred_output'],
      ['unrecognized_key', 'non_preferred_output[0].extra'],
      ['missing_output', 'non_preferred_output[0].content'],
    ]);
    issues.length = 0;
    checkExample({ messages: [{ role: 'user', content: 'hi' }] }, 'preference', 1, issues as never);
    expect(issues.map((i) => i.code)).toEqual(['mixed_formats']);
  });

  it('warns about a duplicate example and names the earlier line', async () => {
    const report = await validateDataset(fixture('duplicate_example.jsonl'));
    expect(report.ok).toBe(true);
    expect(report.warnings).toEqual([{ line: 9, code: 'duplicate_example', field: null, message: 'the same example as line 2' }]);
    expect(report.warningCount).toBe(1);
  });
});
