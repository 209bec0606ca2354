import { describe, expect, it } from 'vitest';
import { drawIndices } from '../../console/src/chart/downsample.js';
import { LossSeries } from '../../console/src/chart/series-store.js';
import { rewardColumns } from '../../console/src/chart/reward-data.js';
import { lengthHistogram } from '../../src/datasets/length-histogram.js';

/** The pure parts behind the console's charts (no browser needed). */
describe('console chart data', () => {
  it('keeps every step once, in order, whatever a replay repeats', () => {
    const series = new LossSeries();
    for (const step of [1, 2, 3, 2, 3, 4]) series.push(step, 10 - step, 1e-3, step / 10);
    series.pushColumns({
      steps: [3, 4, 5],
      loss: [7, 6, 5],
      learningRate: [null, null, null],
      epoch: [null, null, null],
      evalSteps: [4],
      evalLoss: [6.5],
    });
    expect(Array.from(series.steps.subarray(0, series.length))).toEqual([1, 2, 3, 4, 5]);
    expect(series.evalSteps).toEqual([4]);
    expect(series.indexOf(4)).toBe(3);
    expect(series.indexOf(9)).toBe(-1);
    // Bias-corrected smoothing: the first point is the first loss, not dragged to zero.
    expect(series.smoothed[0]).toBeCloseTo(9);
  });

  it('reward columns: every DPO step once, in order; steps without rewards left out', () => {
    const columns = rewardColumns([
      [
        { step: 2, rewardAccuracy: 0.5, rewardMargin: 0.1 },
        { step: 1, rewardAccuracy: 0, rewardMargin: 0 },
      ],
      [
        { step: 2, rewardAccuracy: 0.5, rewardMargin: 0.1 },
        { step: 3, rewardAccuracy: null, rewardMargin: null },
        { step: 4, rewardAccuracy: 1, rewardMargin: 0.4 },
      ],
    ]);
    expect(columns).toEqual({ steps: [1, 2, 4], accuracy: [0, 0.5, 1], margin: [0, 0.1, 0.4] });
  });

  it('grows past its initial capacity without losing a step', () => {
    const series = new LossSeries();
    for (let step = 1; step <= 100_000; step++) series.push(step, Math.sin(step), null, null);
    expect(series.length).toBe(100_000);
    expect(series.steps[99_999]).toBe(100_000);
  });

  it('draws ≈ 4 points per bucket and keeps every extreme and the points it must keep', () => {
    const n = 100_000;
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) values[i] = Math.exp(-i / 10_000);
    values[54_321] = 50; // a spike
    values[77_777] = -5; // a dip
    const picked = drawIndices(values, n, 800, [12_345]);
    expect(picked.length).toBeLessThanOrEqual(4 * 800 + 1);
    const set = new Set(picked);
    for (const i of [0, n - 1, 54_321, 77_777, 12_345]) expect(set.has(i)).toBe(true);
    expect([...picked]).toEqual([...picked].sort((a, b) => a - b));
    // Short series are drawn whole.
    expect(drawIndices(values, 100, 800).length).toBe(100);
  });

  it('groups per-length counts into equal-width bars', () => {
    const bars = lengthHistogram(
      [
        [10, 3],
        [11, 1],
        [30, 2],
        [49, 4],
      ],
      4,
    );
    expect(bars).toEqual([
      { from: 10, to: 19, count: 4 },
      { from: 20, to: 29, count: 0 },
      { from: 30, to: 39, count: 2 },
      { from: 40, to: 49, count: 4 },
    ]);
    expect(bars.reduce((sum, b) => sum + b.count, 0)).toBe(10);
    expect(lengthHistogram([], 10)).toEqual([]);
    expect(lengthHistogram([[7, 5]], 10)).toEqual([{ from: 7, to: 7, count: 5 }]);
  });
});
