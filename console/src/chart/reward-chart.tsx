import type { RewardColumns } from './reward-data';
import { useUPlot } from './use-uplot';

/**
 * A DPO job's reward accuracy (left axis, 0–1) and reward margin (right axis) per step:
 * how often the preferred answer wins, and by how much.
 */
export function RewardChart({ columns }: { columns: RewardColumns }) {
  const version = `${columns.steps.length}:${columns.steps.at(-1) ?? 0}`;
  const { ref } = useUPlot(
    (width) => ({
      width,
      height: 240,
      scales: { x: { time: false }, acc: { range: [0, 1] }, margin: { auto: true } },
      axes: [
        { label: 'step' },
        { label: 'reward accuracy', scale: 'acc', size: 60 },
        { label: 'reward margin', scale: 'margin', side: 1, size: 60, grid: { show: false } },
      ],
      series: [
        { label: 'step' },
        { label: 'reward accuracy', scale: 'acc', stroke: '#16a34a', width: 2, points: { show: false } },
        { label: 'reward margin', scale: 'margin', stroke: '#9333ea', width: 2, dash: [6, 4], points: { show: false } },
      ],
    }),
    (u) => u.setData([columns.steps, columns.accuracy, columns.margin]),
    version,
    'rewards',
  );
  const n = columns.steps.length;
  const last = n
    ? `; at step ${columns.steps[n - 1]}: accuracy ${columns.accuracy[n - 1]!.toFixed(2)}, margin ${columns.margin[n - 1]!.toFixed(3)}`
    : '';
  return <div ref={ref} className="chart" role="img" aria-label={`Reward chart: ${n} steps${last}`} />;
}
