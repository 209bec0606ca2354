import { formatBytes } from '../datasets/storage.js';
import type { Dataset } from './api-client.js';
import { formatCount } from './format.js';
import type { Terminal } from './terminal.js';

type Issue = Dataset['errors'][number];

function issueLine(issue: Issue): string {
  const where = issue.line === null ? 'file' : `line ${issue.line}`;
  return `  ${where}: ${issue.message} [${issue.code}${issue.field ? ` at ${issue.field}` : ''}]`;
}

/**
 * A dataset's validation report as people read it: status, size, format, token counts,
 * then every error and warning the server returned with its line number.
 */
export function datasetReport(term: Terminal, d: Dataset): string {
  const lines = [`${term.colors.bold(d.id)}  ${term.status(d.status)}  ${d.filename ?? d.source}  ${formatBytes(d.bytes)}`];
  const tokens = (d.stats as { tokens?: { total?: number; trainable?: number; max?: number } } | null)?.tokens;
  if (d.status === 'READY') {
    lines.push(
      `  ${formatCount(d.examples)} ${d.format ?? ''} examples` +
        (tokens
          ? `, ${formatCount(tokens.total)} tokens (${formatCount(tokens.trainable)} trained on, longest example ${formatCount(tokens.max)})`
          : ''),
    );
  }
  if (d.errorCount > 0) {
    lines.push(
      term.colors.red(
        `${d.errorCount} error${d.errorCount === 1 ? '' : 's'}${d.errorCount > d.errors.length ? ` (the first ${d.errors.length} shown)` : ''}:`,
      ),
    );
    lines.push(...d.errors.map(issueLine));
  }
  if (d.warningCount > 0) {
    lines.push(
      term.colors.yellow(
        `${d.warningCount} warning${d.warningCount === 1 ? '' : 's'}${d.warningCount > d.warnings.length ? ` (the first ${d.warnings.length} shown)` : ''}:`,
      ),
    );
    lines.push(...d.warnings.map(issueLine));
  }
  return lines.join('\n');
}
