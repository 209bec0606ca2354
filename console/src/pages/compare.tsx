import { useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { request } from '../api/graphql';
import { CompareChart } from '../chart/compare-chart';
import { LossSeries } from '../chart/series-store';
import { ErrorMessage, Status } from '../components/bits';
import { loss } from '../components/format';
import { JobCurveDocument, JobsDocument } from '../generated/graphql';

/** Overlays the smoothed loss of several jobs (`/compare?jobs=a,b`), chosen from the latest jobs. */
export function ComparePage() {
  const search = useSearch();
  const [, navigate] = useLocation();
  const chosen = useMemo(() => (new URLSearchParams(search).get('jobs') ?? '').split(',').filter(Boolean), [search]);
  const recent = useQuery({ queryKey: ['jobs', null], queryFn: () => request(JobsDocument, { first: 25, after: null }) });
  const [curves, setCurves] = useState<Array<{ id: string; series: LossSeries; status: string }>>([]);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let stale = false;
    setError(null);
    Promise.all(
      chosen.map(async (id) => {
        const job = (await request(JobCurveDocument, { id })).trainingJob;
        if (!job) throw new Error(`job ${id} was not found`);
        const series = new LossSeries();
        series.pushColumns(job.lossCurve);
        return { id, series, status: job.status };
      }),
    ).then(
      (loaded) => !stale && setCurves(loaded),
      (err) => !stale && setError(err),
    );
    return () => {
      stale = true;
    };
  }, [chosen]);

  const toggle = (id: string) => {
    const next = chosen.includes(id) ? chosen.filter((x) => x !== id) : [...chosen, id];
    navigate(next.length ? `/compare?jobs=${next.join(',')}` : '/compare', { replace: true });
  };

  return (
    <section>
      <h1>Compare jobs</h1>
      <ErrorMessage error={error} prefix="Could not load a curve" />
      {chosen.length < 2 ? <p className="muted">Choose two or more jobs below to overlay their loss curves.</p> : null}
      {curves.length ? <CompareChart jobs={curves} version={curves.map((c) => c.id).join(',')} /> : null}
      {curves.length ? (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Status</th>
              <th scope="col">Steps</th>
              <th scope="col">Final loss</th>
              <th scope="col">Min smoothed loss</th>
            </tr>
          </thead>
          <tbody>
            {curves.map((c) => (
              <tr key={c.id}>
                <td>
                  <Link href={`/jobs/${c.id}`}>{c.id}</Link>
                </td>
                <td>
                  <Status value={c.status} />
                </td>
                <td>{c.series.length}</td>
                <td>{c.series.length ? loss(c.series.loss[c.series.length - 1]) : '—'}</td>
                <td>{c.series.length ? loss(Math.min(...c.series.smoothed.subarray(0, c.series.length))) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <h2>Jobs</h2>
      <ErrorMessage error={recent.error} prefix="Could not load jobs" />
      <ul className="choices">
        {(recent.data?.trainingJobs.edges ?? []).map(({ node: job }) => (
          <li key={job.id}>
            <label>
              <input type="checkbox" checked={chosen.includes(job.id)} onChange={() => toggle(job.id)} /> {job.id}{' '}
              <Status value={job.status} /> <span className="muted">{job.baseModel?.id}</span>
            </label>
          </li>
        ))}
      </ul>
    </section>
  );
}
