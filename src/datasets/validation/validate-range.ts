import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';
import { asDatasetError } from '../dataset-error.js';
import { ShardPartWriter } from '../shards/shard-writer.js';
import type { ShardPart } from '../shards/shard-writer.js';
import type { ModelTokenizer } from '../../tokenizer/model-tokenizer.js';
import { checkExample } from './check-example.js';
import { findLoneSurrogates } from './lone-surrogates.js';
import type { LineIssue } from './check-example.js';
import { promptLength, renderSequences } from './render-sequences.js';
import { scanLines } from '../line-scanner.js';
import type { LineSink } from '../line-scanner.js';
import { REPORTED_ISSUES_CAP } from './validation-report.js';
import type { DatasetFormat, MessagesPerRole, ValidationErrorCode, ValidationIssue, ValidationLimits } from './validation-report.js';

export interface RangeJob {
  path: string;
  start: number;
  end: number;
  format: DatasetFormat;
  /** The line the format was detected on, for `mixed_formats` messages. */
  formatLine: number | null;
  limits: ValidationLimits;
  /** With a tokenizer: also write the valid examples' tokens to shard part files with this stem. */
  partStem: string | null;
}

/** What one byte range found; line numbers are local to the range (1-based). */
export interface RangeResult {
  lines: number;
  /** Non-blank lines. */
  examples: number;
  validExamples: number;
  errors: Array<ValidationIssue<ValidationErrorCode>>;
  errorCount: number;
  /** `example_truncated` warnings (duplicates are found when ranges are merged). */
  warnings: Array<ValidationIssue<'example_truncated'>>;
  warningCount: number;
  /** Blank lines at the end of the range: errors only if a later range has an example. */
  trailingBlank: { first: number; count: number } | null;
  /** `[hashLo, hashHi, line]` per valid example, in line order. */
  fingerprints: Uint32Array;
  roles: MessagesPerRole;
  tokens: { total: number; max: number; trainable: number; lengths: Array<[number, number]> } | null;
  /** The shard part written (when `partStem` was given with a tokenizer). */
  part: ShardPart | null;
}

/**
 * Validates the lines of one byte range. Runs the same in the main thread and in
 * a worker; the caller merges ranges (line offsets, blank runs, duplicates).
 */
export async function validateRange(job: RangeJob, tokenizer: ModelTokenizer | null): Promise<RangeResult> {
  const { limits, format, formatLine } = job;
  const errors: RangeResult['errors'] = [];
  const warnings: RangeResult['warnings'] = [];
  let errorCount = 0;
  let warningCount = 0;
  let examples = 0;
  let validExamples = 0;
  let blankFirst = 0;
  let blankCount = 0;
  let prints = new Uint32Array(3 * 1024);
  let printCount = 0;
  const roles: MessagesPerRole = { system: 0, user: 0, assistant: 0, tool: 0 };
  const lengths = new Map<number, number>();
  let totalTokens = 0;
  let maxTokens = 0;
  let trainableTokens = 0;
  const lineIssues: LineIssue[] = [];
  const writer =
    tokenizer && job.partStem
      ? new ShardPartWriter({
          tokensPath: `${job.partStem}.tokens`,
          maskPath: `${job.partStem}.mask`,
          lengthsPath: `${job.partStem}.lengths`,
        })
      : null;

  const error = (line: number, issue: LineIssue) => {
    errorCount++;
    if (errors.length < REPORTED_ISSUES_CAP) errors.push({ line, ...issue });
  };
  const flushBlanks = () => {
    for (let k = 0; k < blankCount; k++) {
      error(blankFirst + k, {
        code: 'invalid_json',
        field: null,
        message: 'blank line in the middle of the file: every line must hold one JSON example (blank lines are only allowed at the end)',
      });
      if (errors.length >= REPORTED_ISSUES_CAP) {
        errorCount += blankCount - k - 1;
        break;
      }
    }
    blankCount = 0;
  };

  const sink: LineSink = {
    oversized(line, bytes) {
      flushBlanks();
      examples++;
      error(line, {
        code: 'example_too_long',
        field: null,
        message: `the line is ${bytes} bytes long, over the ${limits.maxLineBytes}-byte limit for one example`,
      });
    },
    line(buf, s, e, line) {
      if (isBlank(buf, s, e)) {
        if (blankCount === 0) blankFirst = line;
        blankCount++;
        return;
      }
      if (blankCount > 0) flushBlanks();
      examples++;
      const bytes = buf.subarray(s, e);
      if (!isUtf8(bytes)) {
        const at = firstInvalidUtf8(bytes);
        error(line, {
          code: 'invalid_utf8',
          field: null,
          message: `invalid UTF-8 byte 0x${bytes[at]!.toString(16).padStart(2, '0')} at byte ${at + 1} of the line: the file must be UTF-8 text`,
        });
        return;
      }
      const text = bytes.toString('utf8');
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        const nul = bytes.indexOf(0);
        error(line, {
          code: 'invalid_json',
          field: null,
          message:
            nul >= 0
              ? `not valid JSON: a raw NUL byte (0x00) at byte ${nul + 1} of the line; JSON allows no raw control characters (write \\u0000 inside a string)`
              : `not valid JSON: ${(err as Error).message}`,
        });
        return;
      }
      lineIssues.length = 0;
      const lineRoles: MessagesPerRole = { system: 0, user: 0, assistant: 0, tool: 0 };
      let valid = checkExample(value, format, formatLine, lineIssues, lineRoles);
      findLoneSurrogates(text, value, lineIssues);
      if (lineIssues.length > 0) valid = false;
      if (valid && tokenizer) {
        try {
          const sequences = renderSequences(tokenizer, value, format);
          const sides = format === 'preference' ? ['preferred', 'non-preferred'] : null;
          const what = (k: number) => (sides ? `the ${sides[k]} sequence (prompt and answer)` : 'the example');
          sequences.forEach((rendered, k) => {
            const n = rendered.tokens.length;
            if (limits.maxTokensPerExample !== null && n > limits.maxTokensPerExample) {
              lineIssues.push({
                code: 'example_too_long',
                field: null,
                message: `${what(k)} is ${n} tokens long, over the limit of ${limits.maxTokensPerExample} tokens`,
              });
              valid = false;
            } else if (sides && k === 0 && limits.truncateAt !== null && promptLength(rendered.mask) >= limits.truncateAt) {
              // Cut at truncateAt, the pair keeps no token of its answers (the prompt is shared): nothing to compare.
              lineIssues.push({
                code: 'example_too_long',
                field: 'input.messages',
                message: `the prompt is ${promptLength(rendered.mask)} tokens long: cut at ${limits.truncateAt} tokens, nothing of the answers is left`,
              });
              valid = false;
            }
          });
          if (valid) {
            for (const [k, rendered] of sequences.entries()) {
              const n = rendered.tokens.length;
              let trainable = 0;
              for (let j = 1; j < n; j++) trainable += rendered.mask[j]!;
              totalTokens += n;
              trainableTokens += trainable;
              if (n > maxTokens) maxTokens = n;
              lengths.set(n, (lengths.get(n) ?? 0) + 1);
              writer?.add(rendered.tokens, rendered.mask);
              if (limits.truncateAt !== null && n > limits.truncateAt) {
                warningCount++;
                if (warnings.length < REPORTED_ISSUES_CAP) {
                  warnings.push({
                    line,
                    code: 'example_truncated',
                    field: null,
                    message: `${what(k)} is ${n} tokens long: training will cut it at ${limits.truncateAt} tokens`,
                  });
                }
              }
            }
          }
        } catch (err) {
          const expected = asDatasetError(err);
          if (!expected) throw err;
          lineIssues.push({
            code: 'template_error',
            field: null,
            message: `the model's chat template cannot render this example: ${expected.message}`,
          });
          valid = false;
        }
      }
      for (const issue of lineIssues) error(line, issue);
      if (!valid) return;
      validExamples++;
      roles.system += lineRoles.system;
      roles.user += lineRoles.user;
      roles.assistant += lineRoles.assistant;
      roles.tool += lineRoles.tool;
      if (printCount * 3 + 3 > prints.length) {
        const grown = new Uint32Array(prints.length * 2);
        grown.set(prints);
        prints = grown;
      }
      // A fingerprint, not security: one-shot md5 of the line's bytes (the first 8 bytes are kept).
      const digest = hash('md5', bytes, 'buffer') as unknown as Buffer; // @types/node 20 lacks the 'buffer' overload
      prints[printCount * 3] = digest.readUInt32LE(0);
      prints[printCount * 3 + 1] = digest.readUInt32LE(4);
      prints[printCount * 3 + 2] = line;
      printCount++;
    },
  };
  let lines: number;
  try {
    lines = await scanLines(job.path, { start: job.start, end: job.end, maxLineBytes: limits.maxLineBytes }, sink);
  } finally {
    writer?.close();
  }

  return {
    lines,
    examples,
    validExamples,
    errors,
    errorCount,
    warnings,
    warningCount,
    trailingBlank: blankCount > 0 ? { first: blankFirst, count: blankCount } : null,
    fingerprints: prints.slice(0, printCount * 3),
    roles,
    tokens: tokenizer
      ? { total: totalTokens, max: maxTokens, trainable: trainableTokens, lengths: [...lengths].sort((a, b) => a[0] - b[0]) }
      : null,
    part: writer ? writer.close() : null,
  };
}

/** Blank: empty or only spaces, tabs and carriage returns. */
function isBlank(buf: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const b = buf[i];
    if (b !== 32 && b !== 9 && b !== 13) return false;
  }
  return true;
}

/** Offset of the first byte that breaks UTF-8 (only called on lines known to be invalid). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
    }
    // Overlong 3/4-byte forms, UTF-16 surrogates and code points past U+10FFFF.
    const c1 = bytes[i + 1] ?? 0;
    if ((b === 0xe0 && c1 < 0xa0) || (b === 0xed && c1 >= 0xa0) || (b === 0xf0 && c1 < 0x90) || (b === 0xf4 && c1 >= 0x90)) return i;
    i += need + 1;
  }
  return 0;
}
