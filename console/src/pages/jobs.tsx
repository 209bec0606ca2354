import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useLocation } from 'wouter';
import { request } from '../api/graphql';
import { AT_REST, ErrorMessage, Loading, Status } from '../components/bits';
import { dateTime, loss, number, usd } from '../components/format';
import { JobsDocument } from '../generated/graphql';
import { Pager, usePages } from '../components/pager';
import { NewJobForm } from './new-job-form';

const PAGE_SIZE = 25;

/**
 * The account's jobs, newest first, a page at a time (cursor pagination: thousands of jobs
 * cost one page each). The page refreshes every 2 s while any job on it is unfinished.
 */
export function JobsPage() {
  const pages = usePages();
  const [selected, setSelected] = useState<string[]>([]);
  const [showForm, setShowForm] = useState(false);
  const [, navigate] = useLocation();
  const { after } = pages;
  const jobs = useQuery({
    queryKey: ['jobs', after],
    queryFn: () => request(JobsDocument, { first: PAGE_SIZE, after }),
    placeholderData: keepPreviousData,
    refetchInterval: (query) => (query.state.data?.trainingJobs.edges.some((e) => !AT_REST.includes(e.node.status)) ? 2_000 : 10_000),
  });
  const edges = jobs.data?.trainingJobs.edges ?? [];
  const toggle = (id: string) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));

  return (
    <section>
      <div className="title-row">
        <h1>Jobs</h1>
        <button type="button" onClick={() => setShowForm((v) => !v)} aria-expanded={showForm}>
          New job
        </button>
        <button
          type="button"
          className="secondary"
          disabled={selected.length < 2}
          onClick={() => navigate(`/compare?jobs=${selected.map(encodeURIComponent).join(',')}`)}
        >
          Compare selected ({selected.length})
        </button>
      </div>
      {showForm ? <NewJobForm onCancel={() => setShowForm(false)} /> : null}
      <ErrorMessage error={jobs.error} prefix="Could not load jobs" />
      {jobs.isPending ? <Loading what="jobs" /> : null}
      {jobs.data && edges.length === 0 ? <p className="muted">No jobs yet: press New job to fine-tune a model.</p> : null}
      {edges.length ? (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">
                <span className="visually-hidden">Compare</span>
              </th>
              <th scope="col">Job</th>
              <th scope="col">Status</th>
              <th scope="col">Base model</th>
              <th scope="col">Method</th>
              <th scope="col">Progress</th>
              <th scope="col">Latest loss</th>
              <th scope="col">Cost</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {edges.map(({ node: job }) => (
              <tr key={job.id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Compare ${job.id}`}
                    checked={selected.includes(job.id)}
                    onChange={() => toggle(job.id)}
                  />
                </td>
                <td>
                  <Link href={`/jobs/${job.id}`}>{job.id}</Link>
                  {job.suffix ? <span className="muted"> {job.suffix}</span> : null}
                </td>
                <td>
                  <Status value={job.status} />
                </td>
                <td>{job.baseModel?.id ?? '—'}</td>
                <td>{job.method}</td>
                <td>{job.progress.percent === null || job.progress.percent === undefined ? '—' : `${number(job.progress.percent)} %`}</td>
                <td>{loss(job.loss)}</td>
                <td>{usd(job.cost)}</td>
                <td>{dateTime(job.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <Pager pages={pages} pageInfo={jobs.data?.trainingJobs.pageInfo} />
    </section>
  );
}
