import { hasLoneSurrogate } from '../../text/sanitize-text.js';
import type { LineIssue } from './check-example.js';

/**
 * Lone UTF-16 surrogates written as JSON escapes (`"\ud800"`). JSON.parse accepts
 * them, but they are not Unicode characters: UTF-8 cannot encode them, so a
 * tokenizer would silently turn them into U+FFFD and Python's json + encode would
 * fail. They are reported as `invalid_utf8` at the field that holds them. Only
 * lines whose text contains a surrogate escape are walked, so valid data pays one
 * `indexOf`.
 */
export function findLoneSurrogates(lineText: string, value: unknown, issues: LineIssue[]): void {
  if (lineText.indexOf('\\u') === -1 || !/\\u[dD][89a-fA-F]/.test(lineText)) return;
  walkStrings(value, null, (field, s) => {
    if (hasLoneSurrogate(s)) {
      issues.push({
        code: 'invalid_utf8',
        field,
        message:
          'a lone UTF-16 surrogate (\\uD800–\\uDFFF escape without its pair) is not a Unicode character and cannot be encoded as UTF-8',
      });
    }
  });
}

function walkStrings(value: unknown, path: string | null, visit: (field: string | null, s: string) => void): void {
  if (typeof value === 'string') visit(path, value);
  else if (Array.isArray(value)) value.forEach((v, i) => walkStrings(v, `${path ?? ''}[${i}]`, visit));
  else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      const child = path === null ? k : `${path}.${k}`;
      if (hasLoneSurrogate(k)) visit(child, k);
      walkStrings(v, child, visit);
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
