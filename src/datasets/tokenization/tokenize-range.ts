import { isUtf8 } from 'node:buffer';
import { ShardPartWriter } from '../shards/shard-writer.js';
import type { ShardPart } from '../shards/shard-writer.js';
import { checkExample } from '../validation/check-example.js';
import type { LineIssue } from '../validation/check-example.js';
import { renderSequences } from '../validation/render-sequences.js';
import { scanLines } from '../line-scanner.js';
import type { DatasetFormat } from '../validation/validation-report.js';
import type { ModelTokenizer } from '../../tokenizer/model-tokenizer.js';

export interface TokenizeRangeJob {
  datasetPath: string;
  start: number;
  end: number;
  format: DatasetFormat;
  /** File stem of this range's part files (`.tokens`, `.mask`, `.lengths` are appended). */
  partStem: string;
}

export interface TokenizeRangeResult {
  part: ShardPart;
  /** Lines in the range, to turn local line numbers into file line numbers. */
  lines: number;
  trainable: number;
  max: number;
  lengths: Array<[number, number]>;
  /** The first line that is not a valid example (the dataset was not validated), local. */
  failure: { line: number; message: string } | null;
}

/**
 * Tokenizes the examples of one byte range into a shard part. Lines are re-checked
 * (cheaply) so an unvalidated file fails with its line instead of a bad shard.
 */
export async function tokenizeRange(job: TokenizeRangeJob, tokenizer: ModelTokenizer): Promise<TokenizeRangeResult> {
  const writer = new ShardPartWriter({
    tokensPath: `${job.partStem}.tokens`,
    maskPath: `${job.partStem}.mask`,
    lengthsPath: `${job.partStem}.lengths`,
  });
  const lengths = new Map<number, number>();
  let trainable = 0;
  let max = 0;
  let failure: TokenizeRangeResult['failure'] = null;
  const issues: LineIssue[] = [];
  let lines: number;
  try {
    lines = await scanLines(
      job.datasetPath,
      { start: job.start, end: job.end, maxLineBytes: 1 << 30, stop: () => failure !== null },
      {
        oversized(line) {
          failure = { line, message: 'line too long' };
        },
        line(buf, s, e, line) {
          const bytes = buf.subarray(s, e);
          if (isBlankText(bytes)) return;
          let value: unknown;
          try {
            if (!isUtf8(bytes)) throw new Error('invalid UTF-8');
            value = JSON.parse(bytes.toString('utf8'));
          } catch (error) {
            failure = { line, message: (error as Error).message };
            return;
          }
          issues.length = 0;
          if (!checkExample(value, job.format, null, issues)) {
            failure = { line, message: `${issues[0]!.code}: ${issues[0]!.message}` };
            return;
          }
          let sequences;
          try {
            sequences = renderSequences(tokenizer, value, job.format);
          } catch (error) {
            failure = { line, message: (error as Error).message };
            return;
          }
          for (const rendered of sequences) {
            const n = rendered.tokens.length;
            writer.add(rendered.tokens, rendered.mask);
            for (let j = 1; j < n; j++) trainable += rendered.mask[j]!;
            if (n > max) max = n;
            lengths.set(n, (lengths.get(n) ?? 0) + 1);
          }
        },
      },
    );
  } finally {
    writer.close();
  }
  return { part: writer.close(), lines, trainable, max, lengths: [...lengths].sort((a, b) => a[0] - b[0]), failure };
}

function isBlankText(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 32 && b !== 9 && b !== 13) return false;
  return true;
}
