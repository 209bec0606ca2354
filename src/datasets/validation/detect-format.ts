import { isUtf8 } from 'node:buffer';
import { shapeOf } from './check-example.js';
import { scanLines } from '../line-scanner.js';
import type { DatasetFormat } from './validation-report.js';

/**
 * The file's format: that of the first line that parses as a JSON object with a
 * `messages` key (chat) or a `prompt` / `completion` key (completion). Lines before
 * it that are broken are skipped here (validation reports them). Null when no line
 * qualifies; usually only the first line is read.
 */
export async function detectFormat(
  path: string,
  size: number,
  maxLineBytes: number,
): Promise<{ format: DatasetFormat; line: number } | null> {
  let found: { format: DatasetFormat; line: number } | null = null;
  await scanLines(
    path,
    { start: 0, end: size, maxLineBytes, chunkBytes: 64 * 1024, stop: () => found !== null },
    {
      oversized() {},
      line(buf, s, e, line) {
        const bytes = buf.subarray(s, e);
        if (bytes.length === 0 || !isUtf8(bytes)) return;
        let value: unknown;
        try {
          value = JSON.parse(bytes.toString('utf8'));
        } catch {
          return;
        }
        const format = shapeOf(value);
        if (format) found = { format, line };
      },
    },
  );
  return found;
}
