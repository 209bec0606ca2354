import { useCallback, useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/**
 * Mounts a uPlot chart into the returned ref's element, sized to its width, and rebuilds
 * it when `key` changes. `draw` is called (at most once per animation frame) whenever
 * `version` changes, with the chart to fill via setData.
 */
export function useUPlot(
  makeOptions: (width: number) => uPlot.Options,
  draw: (chart: uPlot) => void,
  version: unknown,
  /** The chart is rebuilt when this changes (e.g. the ids of the jobs drawn). */
  key: string,
) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const drawRef = useRef(draw);
  drawRef.current = draw;
  const frame = useRef(0);

  const optionsRef = useRef(makeOptions);
  optionsRef.current = makeOptions;
  // biome-ignore lint/correctness/useExhaustiveDependencies: rebuilt when `key` changes; the options are read through a ref
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const width = Math.max(320, element.clientWidth);
    const plot = new uPlot(optionsRef.current(width), [[]], element);
    chart.current = plot;
    drawRef.current(plot);
    const resize = new ResizeObserver(() => {
      const w = Math.max(320, element.clientWidth);
      if (w !== plot.width) plot.setSize({ width: w, height: plot.height });
    });
    resize.observe(element);
    return () => {
      resize.disconnect();
      // Reset, not only cancel: a stale frame id would make every later redraw look pending.
      cancelAnimationFrame(frame.current);
      frame.current = 0;
      plot.destroy();
      chart.current = null;
    };
  }, [key]);

  /** Schedules a redraw in the next animation frame (one, however often it is called). */
  const redraw = useCallback(() => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      if (chart.current) drawRef.current(chart.current);
    });
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: version is the redraw trigger
  useEffect(redraw, [version]);

  return { ref, redraw };
}
