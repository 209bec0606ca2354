/**
 * Which points of a long series to draw: for each of ~`buckets` equal slices of the
 * index range, its first, last, lowest and highest point (the "M4" reduction), so the
 * drawn line keeps every spike a pixel column would show while a 100,000-step curve
 * draws ≈ 4 × width points. `keep` adds indices that must be drawn (evaluation steps).
 * Hand-written: the charting library draws what it is given, and the npm downsampling
 * packages (LTTB) drop extremes, which hides loss spikes.
 */
export function drawIndices(values: Float64Array, length: number, buckets: number, keep: readonly number[] = []): Uint32Array {
  if (length <= buckets * 4) {
    const all = new Uint32Array(length);
    for (let i = 0; i < length; i++) all[i] = i;
    return all;
  }
  const picked = new Set<number>(keep);
  const size = length / buckets;
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor(b * size);
    const end = Math.min(length, Math.floor((b + 1) * size));
    if (end <= start) continue;
    let lo = start;
    let hi = start;
    for (let i = start + 1; i < end; i++) {
      const v = values[i]!;
      if (v < values[lo]!) lo = i;
      if (v > values[hi]!) hi = i;
    }
    picked
      .add(start)
      .add(lo)
      .add(hi)
      .add(end - 1);
  }
  return Uint32Array.from(picked).sort();
}
