import { useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, request, subscribe } from '../api/graphql';
import { JobCurveDocument, JobProgressDocument } from '../generated/graphql';
import { LossSeries } from './series-store';

const TERMINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
const RECONNECTABLE = ['DISCONNECTED', 'NETWORK', 'BAD_RESPONSE'];

export interface LiveCurve {
  series: LossSeries;
  /** Changes whenever the series does (a render trigger). */
  version: number;
  /** 'loading' → 'live' (subscribed) → 'done' (terminal), or 'reconnecting' after a dropped socket. */
  state: 'loading' | 'live' | 'reconnecting' | 'done';
  error: unknown;
  /** Fetches the validation points stored since the last one (they are not in the live stream). */
  refreshEvals(): void;
}

/**
 * A job's loss curve, kept whole: the stored steps first (one `lossCurve` query, columns),
 * then the live `trainingProgress` subscription from the last stored step. When the
 * socket drops, it resubscribes with `afterStep` = the last step it holds, so nothing is
 * lost, and the series ignores any step it already has, so nothing is drawn twice.
 */
export function useLiveCurve(jobId: string, onStatus?: (status: string) => void): LiveCurve {
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new store per job
  const series = useMemo(() => new LossSeries(), [jobId]);
  const statusListener = useRef(onStatus);
  statusListener.current = onStatus;
  const [version, setVersion] = useState(0);
  const [state, setState] = useState<LiveCurve['state']>('loading');
  const [error, setError] = useState<unknown>(null);
  const [evalRequest, setEvalRequest] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    let frame = 0;
    // One React update per animation frame, however many steps arrive in it.
    const bump = () => {
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        setVersion(series.version);
      });
    };
    (async () => {
      let loaded = false;
      let failures = 0;
      while (!abort.signal.aborted) {
        try {
          if (!loaded) {
            const job = (await request(JobCurveDocument, { id: jobId, afterStep: series.lastStep })).trainingJob;
            if (!job) throw new ApiError(`job ${jobId} was not found`, 'NOT_FOUND');
            series.pushColumns(job.lossCurve);
            bump();
            loaded = true;
            if (TERMINAL.includes(job.status)) {
              setState('done');
              return;
            }
          }
          setState('live');
          setError(null);
          await subscribe(
            JobProgressDocument,
            { jobId, afterStep: series.lastStep || null },
            ({ trainingProgress: e }) => {
              failures = 0;
              if (e.kind === 'STEP' && typeof e.loss === 'number') {
                if (series.push(e.step, e.loss, e.learningRate, e.epoch)) bump();
              } else if (e.kind === 'STATUS') statusListener.current?.(e.status);
            },
            abort.signal,
          );
          if (!abort.signal.aborted) setState('done');
          return;
        } catch (err) {
          if (abort.signal.aborted) return;
          if (!(err instanceof ApiError && RECONNECTABLE.includes(err.code)) && err instanceof ApiError) {
            setError(err);
            setState('done');
            return;
          }
          setState('reconnecting');
          await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** failures++)));
        }
      }
    })();
    return () => {
      abort.abort();
      cancelAnimationFrame(frame);
    };
  }, [jobId, series]);

  useEffect(() => {
    if (!evalRequest) return;
    const after = series.evalSteps.at(-1) ?? 0;
    request(JobCurveDocument, { id: jobId, afterStep: after }).then(
      (result) => {
        const curve = result.trainingJob?.lossCurve;
        if (!curve) return;
        for (let i = 0; i < curve.evalSteps.length; i++) series.pushEval(curve.evalSteps[i]!, curve.evalLoss[i]!);
        setVersion(series.version);
      },
      () => {},
    );
  }, [evalRequest, jobId, series]);

  return { series, version, state, error, refreshEvals: () => setEvalRequest((n) => n + 1) };
}
