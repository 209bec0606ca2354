/** Small text renderings shared by the client commands. */

const BLOCKS = '▁▂▃▄▅▆▇█';

/**
 * The last `width` values as a one-line chart, lowest ▁ to highest █. Eight block
 * characters are all a sparkline is; a library would add a dependency for one line.
 */
export function sparkline(values: readonly number[], width = 20): string {
  const shown = values.slice(-width).filter((v) => Number.isFinite(v));
  if (shown.length === 0) return '';
  const min = Math.min(...shown);
  const span = Math.max(...shown) - min;
  return shown.map((v) => BLOCKS[span > 0 ? Math.round(((v - min) / span) * (BLOCKS.length - 1)) : 0]).join('');
}

/** 75 → "1m15s", 3725 → "1h02m", 8 → "8s"; null/non-finite → "—". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** 12345.6 → "12,346"; null → "—". */
export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '—' : Math.round(n).toLocaleString('en-US');
}

/** A loss to 4 significant places ("2.347", "0.01234"); null → "—". */
export function formatLoss(loss: number | null | undefined): string {
  return loss === null || loss === undefined || !Number.isFinite(loss) ? '—' : loss.toPrecision(4);
}

/** "12.500000" → "$12.50"; two significant places under a dollar ("$0.013", "$0.0064"). */
export function formatUsd(amount: string | number | null | undefined): string {
  if (amount === null || amount === undefined) return '—';
  const n = Number(amount);
  if (!Number.isFinite(n)) return String(amount);
  if (n !== 0 && Math.abs(n) < 1) return `$${Number(n.toPrecision(2))}`;
  return `$${n.toFixed(2)}`;
}

/** "2026-12-04T10:11:12.000Z" → "2026-12-04 10:11" (UTC, sortable, short). */
export function formatTime(iso: string | null | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : '—';
}
