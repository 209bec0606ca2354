import uPlot from 'uplot';
import { drawIndices } from './downsample';
import type { LossSeries } from './series-store';
import { useUPlot } from './use-uplot';

const PALETTE = ['#1d4ed8', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#be185d', '#4d7c0f'];

/** Several jobs' smoothed training loss on one chart (each downsampled, then aligned on step). */
export function CompareChart({ jobs, version }: { jobs: Array<{ id: string; series: LossSeries }>; version: string }) {
  const { ref } = useUPlot(
    (width) => ({
      width,
      height: 360,
      scales: { x: { time: false } },
      axes: [{ label: 'step' }, { label: 'loss (smoothed)', size: 60 }],
      series: [
        { label: 'step' },
        ...jobs.map((job, i) => ({
          label: job.id,
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          spanGaps: true,
          points: { show: false },
        })),
      ],
    }),
    (u) => {
      const tables = jobs.map(({ series }) => {
        const picked = drawIndices(series.smoothed, series.length, Math.max(100, u.width));
        const x = Array.from(picked, (i) => series.steps[i]!);
        const y = Array.from(picked, (i) => series.smoothed[i]!);
        return [x, y] as uPlot.AlignedData;
      });
      if (tables.length) u.setData(uPlot.join(tables));
    },
    version,
    jobs.map((j) => j.id).join(','),
  );
  const label = `Loss comparison chart: ${jobs.map((j) => `${j.id} (${j.series.length} steps)`).join(', ')}`;
  return <div ref={ref} className="chart" role="img" aria-label={label} />;
}
