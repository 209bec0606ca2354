import { open } from 'node:fs/promises';
import type { ValidationIssue } from './validation-report.js';

/** How much of the file the sniff reads: enough for many lines, cheap for any file. */
const SAMPLE_BYTES = 64 * 1024;

const BYTE_ORDER_MARKS: Array<[bytes: number[], name: string]> = [
  // UTF-32 LE before UTF-16 LE: its mark starts with the same two bytes.
  [[0xff, 0xfe, 0x00, 0x00], 'UTF-32 LE'],
  [[0x00, 0x00, 0xfe, 0xff], 'UTF-32 BE'],
  [[0xff, 0xfe], 'UTF-16 LE'],
  [[0xfe, 0xff], 'UTF-16 BE'],
];

/** Formats people send by mistake, by their magic bytes. */
const SIGNATURES: Array<[bytes: number[], name: string]> = [
  [[0x1f, 0x8b], 'a gzip-compressed file (decompress it first)'],
  [[0x50, 0x4b, 0x03, 0x04], 'a zip archive (extract the .jsonl file first)'],
  [[0x42, 0x5a, 0x68], 'a bzip2-compressed file (decompress it first)'],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'an xz-compressed file (decompress it first)'],
  [[0x28, 0xb5, 0x2f, 0xfd], 'a zstd-compressed file (decompress it first)'],
  [[0x50, 0x41, 0x52, 0x31], 'a Parquet file (convert it to JSONL)'],
  [[0x41, 0x52, 0x52, 0x4f, 0x57, 0x31], 'an Arrow file (convert it to JSONL)'],
  [[0x53, 0x51, 0x4c, 0x69, 0x74, 0x65, 0x20, 0x66], 'an SQLite database (export it to JSONL)'],
  [[0x89, 0x50, 0x4e, 0x47], 'a PNG image'],
  [[0x25, 0x50, 0x44, 0x46], 'a PDF document'],
];

/**
 * Whole-file checks that come before reading lines: a file in another encoding than UTF-8
 * (UTF-16 or UTF-32, with or without a byte-order mark) is `unsupported_encoding`, a
 * binary file (compressed, an archive, Parquet, or mostly control bytes) is `binary_file`.
 * Both would otherwise give one confusing `invalid_utf8`/`invalid_json` per line. A UTF-8
 * file with a stray control byte on one line is not binary: that line gets its own error.
 * Returns the finding, or null for text that looks like UTF-8 (the line checks decide).
 */
export async function sniffEncoding(path: string, size: number): Promise<ValidationIssue<'unsupported_encoding' | 'binary_file'> | null> {
  const handle = await open(path, 'r');
  let sample: Buffer;
  try {
    const buf = Buffer.alloc(Math.min(size, SAMPLE_BYTES));
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    sample = buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const startsWith = (bytes: number[]) => bytes.length <= sample.length && bytes.every((b, i) => sample[i] === b);
  const encodingIssue = (name: string, how: string) => ({
    line: null,
    code: 'unsupported_encoding' as const,
    field: null,
    message: `the file is ${name} text (${how}); datasets must be UTF-8: re-save the file as UTF-8`,
  });
  for (const [bytes, name] of BYTE_ORDER_MARKS) {
    if (startsWith(bytes))
      return encodingIssue(name, `byte-order mark ${bytes.map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(' ')}`);
  }
  const guessed = unmarkedWideEncoding(sample);
  if (guessed) return encodingIssue(guessed, 'no byte-order mark, but zero bytes between the characters');
  for (const [bytes, name] of SIGNATURES) {
    if (startsWith(bytes)) return { line: null, code: 'binary_file', field: null, message: `the file is ${name}, not JSONL text` };
  }
  if (controlShare(sample) > 0.1) {
    return {
      line: null,
      code: 'binary_file',
      field: null,
      message: 'the file is binary, not JSONL text: more than 10% of its first bytes are control characters',
    };
  }
  return null;
}

/**
 * UTF-16/32 without a byte-order mark: JSONL is mostly ASCII (braces, quotes, keys), and an
 * ASCII character in UTF-16 LE is the byte then a zero (UTF-32 LE: then three zeros). When
 * nearly every character slot has that shape, the encoding is plain.
 */
function unmarkedWideEncoding(sample: Buffer): string | null {
  const n = Math.min(sample.length, 4096) & ~3;
  if (n < 8) return null;
  const pattern = (width: number, at: number) => {
    let hits = 0;
    for (let i = 0; i < n; i += width) {
      let ok = sample[i + at] !== 0;
      for (let k = 0; k < width && ok; k++) if (k !== at && sample[i + k] !== 0) ok = false;
      if (ok) hits++;
    }
    return hits / (n / width);
  };
  if (pattern(4, 0) > 0.7) return 'UTF-32 LE';
  if (pattern(4, 3) > 0.7) return 'UTF-32 BE';
  if (pattern(2, 0) > 0.7) return 'UTF-16 LE';
  if (pattern(2, 1) > 0.7) return 'UTF-16 BE';
  return null;
}

/** The share of bytes that text never holds: C0 controls other than tab, newline, form feed, carriage return and escape. */
function controlShare(sample: Buffer): number {
  if (sample.length === 0) return 0;
  let controls = 0;
  for (const b of sample) if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0c && b !== 0x0d && b !== 0x1b) controls++;
  return controls / sample.length;
}
