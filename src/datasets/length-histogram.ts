/** One bar of a length histogram: examples whose token count is in [from, to]. */
export interface LengthBucket {
  from: number;
  to: number;
  count: number;
}

/**
 * Groups the exact per-length counts a validation records (`[length, examples]` pairs)
 * into at most `buckets` bars of equal width from the shortest to the longest example, so
 * a client draws the distribution without receiving one pair per distinct length.
 */
export function lengthHistogram(lengths: ReadonlyArray<readonly [number, number]>, buckets: number): LengthBucket[] {
  if (lengths.length === 0) return [];
  const n = Math.max(1, Math.min(Math.floor(buckets), 200));
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  for (const [length] of lengths) {
    if (length < min) min = length;
    if (length > max) max = length;
  }
  const width = Math.max(1, Math.ceil((max - min + 1) / n));
  const bars: LengthBucket[] = [];
  for (let from = min; from <= max; from += width) bars.push({ from, to: Math.min(max, from + width - 1), count: 0 });
  for (const [length, count] of lengths) bars[Math.floor((length - min) / width)]!.count += count;
  return bars;
}
