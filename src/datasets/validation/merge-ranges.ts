import { FingerprintSet } from './fingerprint-set.js';
import type { RangeResult } from './validate-range.js';
import { REPORTED_ISSUES_CAP } from './validation-report.js';
import type {
  ValidationErrorCode,
  ValidationIssue,
  ValidationLimits,
  ValidationReport,
  ValidationWarningCode,
} from './validation-report.js';

/** Joins per-range results: line offsets, blank runs across ranges, duplicates, caps. */
export function mergeRanges(
  results: RangeResult[],
  bytes: number,
  limits: ValidationLimits,
  format: ValidationReport['stats']['format'],
): ValidationReport {
  const examples = results.reduce((n, r) => n + r.examples, 0);
  const fileErrors: Array<ValidationIssue<ValidationErrorCode>> = [];
  if (examples === 0) {
    fileErrors.push({
      line: null,
      code: 'empty_file',
      field: null,
      message: 'the file holds no examples: expected one JSON example per line',
    });
  } else if (examples < limits.minExamples) {
    fileErrors.push({
      line: null,
      code: 'too_few_examples',
      field: null,
      message: `the file holds ${examples} examples; at least ${limits.minExamples} are required`,
    });
  } else if (examples > limits.maxExamples) {
    fileErrors.push({
      line: null,
      code: 'file_too_large',
      field: null,
      message: `the file holds ${examples} examples; at most ${limits.maxExamples} are allowed`,
    });
  }
  const errors = [...fileErrors];
  let errorCount = fileErrors.length;
  const warnings: Array<ValidationIssue<ValidationWarningCode>> = [];
  let warningCount = 0;
  const duplicates: Array<ValidationIssue<'duplicate_example'>> = [];
  const prints = new FingerprintSet(results.reduce((n, r) => n + r.fingerprints.length / 3, 0));
  let offset = 0;
  let examplesAfter = examples;
  for (const r of results) {
    examplesAfter -= r.examples;
    for (const e of r.errors) if (errors.length < REPORTED_ISSUES_CAP) errors.push({ ...e, line: e.line! + offset });
    errorCount += r.errorCount;
    if (r.trailingBlank && examplesAfter > 0) {
      for (let k = 0; k < r.trailingBlank.count && errors.length < REPORTED_ISSUES_CAP; k++) {
        errors.push({
          line: offset + r.trailingBlank.first + k,
          code: 'invalid_json',
          field: null,
          message: 'blank line in the middle of the file: every line must hold one JSON example (blank lines are only allowed at the end)',
        });
      }
      errorCount += r.trailingBlank.count;
    }
    for (const w of r.warnings) if (warnings.length < REPORTED_ISSUES_CAP) warnings.push({ ...w, line: w.line! + offset });
    warningCount += r.warningCount;
    const f = r.fingerprints;
    for (let i = 0; i < f.length; i += 3) {
      const line = f[i + 2]! + offset;
      const first = prints.addOrGet(f[i]!, f[i + 1]!, line);
      if (first === 0) continue;
      warningCount++;
      if (duplicates.length < REPORTED_ISSUES_CAP) {
        duplicates.push({ line, code: 'duplicate_example', field: null, message: `the same example as line ${first}` });
      }
    }
    offset += r.lines;
  }
  const merged = [...warnings, ...duplicates].sort((a, b) => a.line! - b.line!).slice(0, REPORTED_ISSUES_CAP);
  const valid = results.reduce((n, r) => n + r.validExamples, 0);
  const roles = { system: 0, user: 0, assistant: 0, tool: 0 };
  for (const r of results) for (const k of Object.keys(roles) as Array<keyof typeof roles>) roles[k] += r.roles[k];
  let tokens: ValidationReport['stats']['tokens'] = null;
  if (results.every((r) => r.tokens !== null)) {
    const lengths = new Map<number, number>();
    for (const r of results) for (const [len, n] of r.tokens!.lengths) lengths.set(len, (lengths.get(len) ?? 0) + n);
    const total = results.reduce((n, r) => n + r.tokens!.total, 0);
    tokens = {
      total,
      mean: valid > 0 ? total / valid : 0,
      max: Math.max(0, ...results.map((r) => r.tokens!.max)),
      trainable: results.reduce((n, r) => n + r.tokens!.trainable, 0),
      lengths: [...lengths].sort((a, b) => a[0] - b[0]),
    };
  }
  return {
    ok: errorCount === 0,
    errors,
    errorCount,
    warnings: merged,
    warningCount,
    stats: { bytes, lines: offset, examples, format, messagesPerRole: format === 'completion' ? null : roles, tokens },
  };
}
