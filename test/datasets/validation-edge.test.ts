import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { splitAtNewlines } from '../../src/datasets/line-scanner.js';
import { validateDataset } from '../../src/datasets/validation/index.js';
import { chatLine, useTempDir } from '../helpers/temp-dir.js';

const tmp = useTempDir();
const lines = (n: number, from = 1) => Array.from({ length: n }, (_, i) => chatLine(from + i));

async function validate(name: string, content: string | Buffer, options: Parameters<typeof validateDataset>[1] = {}) {
  await writeFile(tmp.file(name), content);
  return validateDataset(tmp.file(name), options);
}

describe('validation edge cases', () => {
  it('accepts a byte-order mark, CRLF line ends and blank trailing lines', async () => {
    const report = await validate('bom-crlf.jsonl', `\uFEFF${lines(12).join('\r\n')}\r\n\r\n  \n\n`);
    expect(report.errors).toEqual([]);
    expect(report.stats).toMatchObject({ examples: 12, lines: 15, format: 'chat' });
  });

  it('reports a blank line in the middle with its line number, not the trailing ones', async () => {
    const body = [...lines(5), '', '   ', ...lines(6, 6), '', ''].join('\n');
    const report = await validate('blank-middle.jsonl', body);
    expect(report.errors.map((e) => [e.line, e.code])).toEqual([
      [6, 'invalid_json'],
      [7, 'invalid_json'],
    ]);
  });

  it('keeps line numbers exact after a byte-order mark and CRLF', async () => {
    const body = lines(12);
    body[9] = '{"messages": 5}';
    const report = await validate('bom-error.jsonl', `\uFEFF${body.join('\r\n')}`);
    expect(report.errors).toEqual([
      { line: 10, code: 'missing_messages', field: 'messages', message: expect.stringContaining('got number 5') },
    ]);
  });

  it('validates a 10 MB single-line example', async () => {
    const big = JSON.stringify({
      messages: [
        { role: 'user', content: 'x'.repeat(10 * 1024 * 1024) },
        { role: 'assistant', content: 'ok' },
      ],
    });
    const report = await validate('big-line.jsonl', [big, ...lines(11)].join('\n'));
    expect(report.errors).toEqual([]);
    expect(report.stats.examples).toBe(12);
    expect(report.stats.bytes).toBeGreaterThan(10 * 1024 * 1024);
  });

  it('refuses a line over maxLineBytes without holding it, and goes on with the next lines', async () => {
    const big = chatLine(0, 'y'.repeat(3 * 1024 * 1024));
    const body = [...lines(3), big, ...lines(8, 4)];
    body[10] = '[]';
    const report = await validate('over-line.jsonl', body.join('\n'), { limits: { maxLineBytes: 1024 * 1024 } });
    expect(report.errors.map((e) => [e.line, e.code])).toEqual([
      [4, 'example_too_long'],
      [11, 'not_an_object'],
    ]);
  });

  it('accepts non-BMP characters (emoji, mathematical letters) and counts them as text', async () => {
    const body = lines(11);
    body.push(
      JSON.stringify({
        messages: [
          { role: 'user', content: '👩‍💻 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{10FFFD}' },
          { role: 'assistant', content: '🎉' },
        ],
      }),
    );
    const report = await validate('non-bmp.jsonl', body.join('\n'));
    expect(report.errors).toEqual([]);
  });

  it('accepts a surrogate pair written as JSON escapes but not a lone surrogate', async () => {
    const body = lines(12);
    body[2] = '{"messages": [{"role": "user", "content": "pair \\ud83d\\ude00"}, {"role": "assistant", "content": "ok"}]}';
    body[7] = '{"messages": [{"role": "user", "content": "ok"}, {"role": "assistant", "content": "low \\udc00 alone"}]}';
    const report = await validate('surrogates.jsonl', body.join('\n'));
    expect(report.errors.map((e) => [e.line, e.code, e.field])).toEqual([[8, 'invalid_utf8', 'messages[1].content']]);
  });

  it('reports invalid UTF-8 bytes with the line and the byte position', async () => {
    const good = Buffer.from(`${lines(12).join('\n')}\n`);
    const bad = Buffer.concat([
      Buffer.from(chatLine(99).slice(0, 20)),
      Buffer.from([0xc3, 0x28]),
      Buffer.from(chatLine(99).slice(20)),
      Buffer.from('\n'),
    ]);
    const overlong = Buffer.concat([Buffer.from('{"messages": "'), Buffer.from([0xe0, 0x80, 0xaf]), Buffer.from('"}\n')]);
    const report = await validate('bad-utf8.jsonl', Buffer.concat([good, bad, overlong]));
    expect(report.errors).toEqual([
      { line: 13, code: 'invalid_utf8', field: null, message: expect.stringContaining('byte 0xc3 at byte 21') },
      { line: 14, code: 'invalid_utf8', field: null, message: expect.stringContaining('byte 0xe0 at byte 15') },
    ]);
  });

  it('lists the first 100 errors in line order and counts all of them', async () => {
    const body = lines(160);
    for (let i = 10; i < 160; i++) body[i] = `{"messages": [], "n": ${i}}`;
    const report = await validate('many-errors.jsonl', body.join('\n'));
    expect(report.errorCount).toBe(300);
    expect(report.errors).toHaveLength(100);
    expect(report.errors[0]).toMatchObject({ line: 11, code: 'unrecognized_key' });
    expect(report.errors.at(-1)).toMatchObject({ line: 60, code: 'missing_messages' });
  });

  it('caps duplicate warnings at 100 and counts them all', async () => {
    const body = [...lines(10), ...Array.from({ length: 150 }, () => chatLine(1))];
    const report = await validate('dups.jsonl', body.join('\n'));
    expect(report.ok).toBe(true);
    expect(report.warningCount).toBe(150);
    expect(report.warnings).toHaveLength(100);
    expect(report.warnings[0]).toEqual({ line: 11, code: 'duplicate_example', field: null, message: 'the same example as line 1' });
  });

  it('gives the same report split over worker threads as in one thread', async () => {
    // Errors, a run of blank lines that spans a cut between ranges, and duplicates
    // across ranges; the cut is checked to fall where the test needs it.
    const body = lines(3000);
    body[0] = chatLine(7);
    body[1999] = '{"prompt": "p", "completion": "c"}';
    body[2998] = chatLine(10);
    for (let i = 100; i < 110; i++) body[i] = '{bad json';
    const before = `${body.slice(0, 1000).join('\n')}\n`;
    const blanks = `${Array.from({ length: 4 }, () => ' '.repeat(60_000)).join('\n')}\n`;
    const content = `${before + blanks + body.slice(1000).join('\n')}\n\n`;
    const path = tmp.file('split.jsonl');
    await writeFile(path, content);
    const cuts = await splitAtNewlines(path, Buffer.byteLength(content), 3);
    expect(cuts[1]!.start).toBeGreaterThan(before.length);
    expect(cuts[1]!.start).toBeLessThan(before.length + blanks.length);
    const single = await validateDataset(path, { concurrency: 1 });
    const parallel = await validateDataset(path, { concurrency: 3, parallelThreshold: 0 });
    expect(parallel).toEqual(single);
    expect(single.errors.map((e) => [e.line, e.code])).toEqual([
      ...Array.from({ length: 10 }, (_, i) => [101 + i, 'invalid_json']),
      [1001, 'invalid_json'],
      [1002, 'invalid_json'],
      [1003, 'invalid_json'],
      [1004, 'invalid_json'],
      [2004, 'mixed_formats'],
    ]);
    expect(single.warnings.map((w) => [w.line, w.message])).toEqual([
      [7, 'the same example as line 1'],
      [3003, 'the same example as line 10'],
    ]);
    expect(single.stats).toMatchObject({ lines: 3005, examples: 3000 });
  }, 60_000);
});
