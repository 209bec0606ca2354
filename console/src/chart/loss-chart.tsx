import { useEffect, useRef } from 'react';
import type uPlot from 'uplot';
import { drawIndices } from './downsample';
import type { LossSeries } from './series-store';
import { useUPlot } from './use-uplot';

interface Props {
  series: LossSeries;
  /** Steps at which a checkpoint was saved (drawn as markers). */
  checkpoints: readonly number[];
  totalSteps: number | null | undefined;
  height?: number;
}

/** Fired on the chart element after every redraw: lets benchmarks time when a step reaches the screen. */
export const CHART_DRAWN_EVENT = 'tuneloop:chart-drawn';

const colors = { raw: 'rgba(37, 99, 235, 0.3)', smoothed: '#1d4ed8', eval: '#ea580c', lr: '#6b7280', epoch: '#9ca3af', ckpt: '#16a34a' };

/**
 * The job's loss chart: raw and smoothed training loss, validation loss points, the
 * learning rate on a second axis, dashed lines at epoch boundaries and green ticks at
 * checkpoints. Canvas (uPlot); a long curve is reduced to ≈ 4 points per pixel column
 * before drawing (downsample.ts), while `series` keeps every step.
 */
export function LossChart({ series, checkpoints, totalSteps, height = 320 }: Props) {
  // Read by the draw hook, which the chart keeps from its first render.
  const markers = useRef(checkpoints);
  markers.current = checkpoints;
  const { ref, redraw } = useUPlot(
    (width) => ({
      width,
      height,
      scales: { x: { time: false }, lr: { auto: true } },
      axes: [
        { label: 'step' },
        { label: 'loss', size: 60 },
        {
          scale: 'lr',
          side: 1,
          label: 'learning rate',
          size: 70,
          grid: { show: false },
          values: (_u, v) => v.map((x) => (x === 0 ? '0' : x.toPrecision(2))),
        },
      ],
      series: [
        { label: 'step' },
        { label: 'loss', stroke: colors.raw, width: 1, points: { show: false } },
        { label: 'smoothed', stroke: colors.smoothed, width: 2, points: { show: false } },
        { label: 'validation', stroke: colors.eval, width: 0, points: { show: true, size: 7, fill: colors.eval }, spanGaps: false },
        { label: 'learning rate', scale: 'lr', stroke: colors.lr, width: 1, dash: [4, 4], points: { show: false } },
      ],
      hooks: {
        draw: [
          (u: uPlot) => {
            drawMarkers(u, series, markers.current);
            // What the canvas shows (the aria-label says what the store holds).
            u.root.parentElement?.setAttribute('data-drawn-step', String(series.lastStep));
            u.root.parentElement?.dispatchEvent(
              new CustomEvent(CHART_DRAWN_EVENT, { detail: { lastStep: series.lastStep, points: u.data[0]?.length ?? 0 } }),
            );
          },
        ],
      },
    }),
    (u) => u.setData(chartData(series, Math.max(100, u.width)) as uPlot.AlignedData),
    `${series.version}:${checkpoints.length}`,
    String(series.id),
  );
  // New steps reach the canvas in the next frame, without waiting for React to re-render the page.
  useEffect(() => series.subscribe(redraw), [series, redraw]);
  const last = series.length ? series.loss[series.length - 1]! : null;
  const label =
    `Training loss chart: ${series.length} steps` +
    (totalSteps ? ` of ${totalSteps}` : '') +
    (last !== null ? `, latest loss ${last.toFixed(4)}` : '') +
    (series.evalSteps.length ? `, ${series.evalSteps.length} validation points` : '');
  return <div ref={ref} className="chart" role="img" aria-label={label} />;
}

function chartData(series: LossSeries, buckets: number): Array<ArrayLike<number | null>> {
  const evalIndices: number[] = [];
  const evalAt = new Map<number, number>();
  for (let j = 0; j < series.evalSteps.length; j++) {
    const i = series.indexOf(series.evalSteps[j]!);
    if (i >= 0) {
      evalIndices.push(i);
      evalAt.set(i, series.evalLoss[j]!);
    }
  }
  const picked = drawIndices(series.loss, series.length, buckets, evalIndices);
  const n = picked.length;
  const x = new Float64Array(n);
  const raw = new Float64Array(n);
  const smooth = new Float64Array(n);
  const lr: Array<number | null> = new Array(n);
  const evals: Array<number | null> = new Array(n);
  for (let k = 0; k < n; k++) {
    const i = picked[k]!;
    x[k] = series.steps[i]!;
    raw[k] = series.loss[i]!;
    smooth[k] = series.smoothed[i]!;
    const rate = series.learningRate[i]!;
    lr[k] = Number.isNaN(rate) ? null : rate;
    evals[k] = evalAt.get(i) ?? null;
  }
  return [x, raw, smooth, evals, lr];
}

function drawMarkers(u: uPlot, series: LossSeries, checkpoints: readonly number[]): void {
  const { ctx } = u;
  const top = u.bbox.top;
  const bottom = u.bbox.top + u.bbox.height;
  ctx.save();
  ctx.lineWidth = 1;
  // Epoch boundaries: where the whole part of the epoch counter changes.
  ctx.strokeStyle = colors.epoch;
  ctx.setLineDash([3, 5]);
  let previous = Math.floor(series.epoch[0] ?? 0);
  for (let i = 1; i < series.length; i++) {
    const e = series.epoch[i]!;
    if (Number.isNaN(e)) continue;
    const whole = Math.floor(e + 1e-9);
    if (whole > previous) {
      const px = u.valToPos(series.steps[i]!, 'x', true);
      ctx.beginPath();
      ctx.moveTo(px, top);
      ctx.lineTo(px, bottom);
      ctx.stroke();
    }
    previous = whole;
  }
  // Checkpoints: a short green tick from the bottom.
  ctx.setLineDash([]);
  ctx.strokeStyle = colors.ckpt;
  ctx.lineWidth = 3;
  for (const step of checkpoints) {
    const px = u.valToPos(step, 'x', true);
    ctx.beginPath();
    ctx.moveTo(px, bottom);
    ctx.lineTo(px, bottom - 12 * devicePixelRatio);
    ctx.stroke();
  }
  ctx.restore();
}
