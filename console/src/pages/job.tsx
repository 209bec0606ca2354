import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { request, throwPayloadErrors } from '../api/graphql';
import { LossChart } from '../chart/loss-chart';
import { RewardChart } from '../chart/reward-chart';
import { rewardColumns } from '../chart/reward-data';
import type { RewardStep } from '../chart/reward-data';
import { useLiveCurve } from '../chart/use-live-curve';
import { AT_REST, ErrorMessage, Loading, PAUSABLE, Status, TERMINAL } from '../components/bits';
import { dateTime, duration, loss, number, usd } from '../components/format';
import { useDeploy } from '../api/deploy';
import {
  CancelJobDocument,
  JobDocument,
  JobEventsDocument,
  JobRewardsDocument,
  PauseJobDocument,
  ResumeJobDocument,
} from '../generated/graphql';
import type { JobRewardsQuery } from '../generated/graphql';

/** One job: status, progress, the live loss chart, checkpoints, the event log and its actions. */
export function JobPage({ id }: { id: string }) {
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const job = useQuery({
    queryKey: ['job', id],
    queryFn: () => request(JobDocument, { id }),
    refetchInterval: (query) => {
      const status = query.state.data?.trainingJob?.status;
      if (!status) return 2_000;
      // A paused job changes only when someone resumes or cancels it (here: refreshed at once).
      return TERMINAL.includes(status) ? false : AT_REST.includes(status) ? 10_000 : 2_000;
    },
  });
  const j = job.data?.trainingJob;
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ['job', id] });
    void queryClient.invalidateQueries({ queryKey: ['job-events', id] });
  };
  const curve = useLiveCurve(id, refresh);
  const events = useQuery({
    queryKey: ['job-events', id],
    queryFn: () => request(JobEventsDocument, { id }),
    refetchInterval: j && TERMINAL.includes(j.status) ? false : j && AT_REST.includes(j.status) ? 10_000 : 3_000,
  });

  const isDpo = j?.method === 'DPO';
  const rewards = useQuery({
    queryKey: ['job-rewards', id],
    enabled: isDpo,
    queryFn: () => fetchRewards(id),
    refetchInterval: j && TERMINAL.includes(j.status) ? false : 3_000,
  });

  // Validation points are not in the live stream: fetch them when the job's latest one changes.
  const lastEval = useRef<number | null | undefined>(undefined);
  const evalLoss = j?.metrics.evalLoss;
  // biome-ignore lint/correctness/useExhaustiveDependencies: triggered by the job's evalLoss only
  useEffect(() => {
    if (evalLoss === undefined) return;
    if (lastEval.current !== undefined && evalLoss !== lastEval.current) curve.refreshEvals();
    lastEval.current = evalLoss;
  }, [evalLoss]);

  const cancel = useMutation({
    mutationFn: async () => {
      const result = (await request(CancelJobDocument, { jobId: id })).cancelTraining;
      throwPayloadErrors(result.errors);
      return result.job;
    },
    onSettled: refresh,
  });
  // Pause waits (up to 10 s) for a running trainer to checkpoint; until then the job says pauseRequested.
  const pause = useMutation({
    mutationFn: async () => {
      const result = (await request(PauseJobDocument, { jobId: id })).pauseTraining;
      throwPayloadErrors(result.errors);
      return result.job;
    },
    onSettled: refresh,
  });
  const resume = useMutation({
    mutationFn: async () => {
      const result = (await request(ResumeJobDocument, { jobId: id })).resumeTraining;
      throwPayloadErrors(result.errors);
      return result.job;
    },
    onSettled: refresh,
  });
  const deploy = useDeploy((deployment) => navigate(`/playground?model=${encodeURIComponent(deployment.modelId)}`));

  const now = useTicker(j && !TERMINAL.includes(j.status));
  if (job.isPending) return <Loading what="the job" />;
  if (job.error) return <ErrorMessage error={job.error} prefix="Could not load the job" />;
  if (!j) {
    return (
      <section>
        <h1>Job not found</h1>
        <p>
          No job {id} in this account. <Link href="/jobs">Back to your jobs</Link>
        </p>
      </section>
    );
  }

  const step = Math.max(j.progress.step, curve.series.lastStep);
  const started = j.startedAt ? Date.parse(j.startedAt) : null;
  const ended = j.finishedAt ? Date.parse(j.finishedAt) : now;
  const checkpointSteps = j.checkpoints.map((c) => c.step);
  const modelId = j.fineTunedModel?.id;

  return (
    <section>
      <div className="title-row">
        <h1>
          Job <span className="mono">{j.id}</span>
        </h1>
        <Status value={j.status} />
        {PAUSABLE.includes(j.status) ? (
          <button
            type="button"
            className="secondary"
            onClick={() => pause.mutate()}
            disabled={pause.isPending || j.pauseRequested || j.cancelRequested}
          >
            Pause
          </button>
        ) : null}
        {j.status === 'PAUSED' ? (
          <button type="button" onClick={() => resume.mutate()} disabled={resume.isPending}>
            Resume
          </button>
        ) : null}
        {!TERMINAL.includes(j.status) ? (
          <button type="button" className="danger" onClick={() => cancel.mutate()} disabled={cancel.isPending || j.cancelRequested}>
            Cancel job
          </button>
        ) : null}
      </div>
      <ErrorMessage error={pause.error} prefix="Could not pause" />
      <ErrorMessage error={resume.error} prefix="Could not resume" />
      <ErrorMessage error={cancel.error} prefix="Could not cancel" />
      {j.cancelRequested && !TERMINAL.includes(j.status) ? <p className="notice">Cancelling at the next step…</p> : null}
      {j.pauseRequested && !j.cancelRequested && j.status === 'RUNNING' ? (
        <p className="notice">Pausing: finishing the step and saving a checkpoint…</p>
      ) : null}
      {j.status === 'PAUSED' ? (
        <p className="notice">
          Paused at step {j.progress.step}, at a checkpoint; the job keeps its reservation. Resume continues from there, no step lost or
          repeated.
        </p>
      ) : null}

      <dl className="facts">
        <div>
          <dt>Progress</dt>
          <dd>
            <span>
              step {step} / {j.progress.totalSteps ?? '?'}
            </span>
            {j.progress.percent !== null && j.progress.percent !== undefined ? <span> · {number(j.progress.percent, 1)} %</span> : null}
          </dd>
        </div>
        <div>
          <dt>Elapsed</dt>
          <dd>{started ? duration((ended - started) / 1000) : '—'}</dd>
        </div>
        <div>
          <dt>ETA</dt>
          <dd>{AT_REST.includes(j.status) ? '—' : duration(j.progress.etaSeconds)}</dd>
        </div>
        <div>
          <dt>Tokens/s</dt>
          <dd>{number(j.progress.tokensPerSecond)}</dd>
        </div>
        <div>
          <dt>Loss</dt>
          <dd>
            {loss(j.metrics.loss)}{' '}
            <span className="muted">
              (min {loss(j.metrics.minLoss)}, validation {loss(j.metrics.evalLoss)})
            </span>
          </dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>
            {usd(j.cost)} <span className="muted">(estimate {usd(j.estimatedCost)})</span>
          </dd>
        </div>
        <div>
          <dt>Base model</dt>
          <dd>{j.baseModel?.id ?? '—'}</dd>
        </div>
        <div>
          <dt>Method</dt>
          <dd>
            {j.method}
            {j.method === 'DPO' ? <span className="muted"> ({j.trainable === 'FULL' ? 'all weights' : 'LoRA'})</span> : null}
          </dd>
        </div>
        {j.parentModel ? (
          <div>
            <dt>Continued from</dt>
            <dd className="mono">{j.parentModel}</dd>
          </div>
        ) : null}
        {isDpo ? (
          <div>
            <dt>Rewards</dt>
            <dd>
              accuracy {number(j.metrics.rewardAccuracy, 2)} <span className="muted">(margin {loss(j.metrics.rewardMargin)})</span>
            </dd>
          </div>
        ) : null}
        <div>
          <dt>Dataset</dt>
          <dd>
            {j.trainingDataset ? (
              <Link href={`/datasets/${j.trainingDataset.id}`}>{j.trainingDataset.filename ?? j.trainingDataset.id}</Link>
            ) : (
              '—'
            )}
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{dateTime(j.createdAt)}</dd>
        </div>
      </dl>

      {j.error ? (
        <div className="error-box" role="alert">
          <strong>{j.error.code}</strong>: {j.error.message}
        </div>
      ) : null}

      {j.status === 'SUCCEEDED' && modelId ? (
        <div className="card result">
          <p>
            Fine-tuned model <span className="mono">{modelId}</span>
          </p>
          <button type="button" onClick={() => deploy.mutate(modelId)} disabled={deploy.isPending}>
            Deploy
          </button>
          <button type="button" className="secondary" onClick={() => navigate(`/playground?model=${encodeURIComponent(modelId)}`)}>
            Open in playground
          </button>
          <ErrorMessage error={deploy.error} prefix="Could not deploy" />
        </div>
      ) : null}

      <h2>Loss</h2>
      <p className="muted" aria-live="polite">
        {curve.state === 'reconnecting' ? 'Live connection lost: reconnecting…' : null}
        {curve.state === 'live' ? 'Live' : null}
      </p>
      <ErrorMessage error={curve.error} prefix="Live updates stopped" />
      <LossChart series={curve.series} checkpoints={checkpointSteps} totalSteps={j.progress.totalSteps} />
      <p className="legend muted">
        Faint line: loss of each step; bold: smoothed; dots: validation loss; dashed grey: learning rate (right axis); dashed verticals:
        epoch boundaries; green ticks: checkpoints.
      </p>

      {isDpo ? (
        <>
          <h2>Rewards</h2>
          <ErrorMessage error={rewards.error} prefix="Could not load the rewards" />
          <RewardChart columns={rewards.data ?? { steps: [], accuracy: [], margin: [] }} />
          <p className="legend muted">
            Green: reward accuracy, the share of the step’s pairs whose preferred answer scored higher (left axis); dashed purple: reward
            margin, preferred minus non-preferred reward (right axis).
          </p>
        </>
      ) : null}

      {j.hyperparameters ? (
        <>
          <h2>Hyperparameters</h2>
          <dl className="facts small">
            {Object.entries(j.hyperparameters)
              .filter(([k]) => k !== '__typename')
              .map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>{String(v)}</dd>
                </div>
              ))}
          </dl>
        </>
      ) : null}

      <h2>Checkpoints</h2>
      {j.checkpoints.length === 0 ? <p className="muted">None yet.</p> : null}
      {j.checkpoints.length ? (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">Step</th>
              <th scope="col">Saved</th>
              <th scope="col">Loss at step</th>
              <th scope="col">Smoothed loss</th>
            </tr>
          </thead>
          <tbody>
            {j.checkpoints.map((c) => {
              const i = curve.series.indexOf(c.step);
              return (
                <tr key={c.step}>
                  <td>{c.step}</td>
                  <td>{dateTime(c.createdAt)}</td>
                  <td>{i >= 0 ? loss(curve.series.loss[i]) : '—'}</td>
                  <td>{i >= 0 ? loss(curve.series.smoothed[i]) : '—'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}

      <h2>Events</h2>
      <ErrorMessage error={events.error} prefix="Could not load the event log" />
      <ol className="events">
        {(events.data?.trainingJob?.events.edges ?? []).map(({ node: e }, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: the log only grows at its end
          <li key={i}>
            <span className="muted">{dateTime(e.at)}</span> {e.kind === 'STATUS' ? <Status value={e.status} /> : e.kind.toLowerCase()} at
            step {e.step}
            {e.kind === 'EVAL' && typeof e.loss === 'number' ? ` — validation loss ${loss(e.loss)}` : ''}
            {e.error ? ` — ${e.error.code}: ${e.error.message}` : ''}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** Every stored step's rewards of a DPO job, page after page. */
async function fetchRewards(id: string) {
  const pages: RewardStep[][] = [];
  let after: string | null = null;
  for (;;) {
    const result: JobRewardsQuery = await request(JobRewardsDocument, { id, after });
    const steps = result.trainingJob?.steps;
    if (!steps) break;
    pages.push(steps.edges.map((e) => e.node));
    if (!steps.pageInfo.hasNextPage) break;
    after = steps.pageInfo.endCursor ?? null;
  }
  return rewardColumns(pages);
}

/** The current time, updated every second while `active` (elapsed time of a running job). */
function useTicker(active: boolean | undefined | null): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, [active]);
  return active ? now : Date.now();
}
