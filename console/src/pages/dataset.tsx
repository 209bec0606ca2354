import { useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import { request } from '../api/graphql';
import { ErrorMessage, Loading, Status } from '../components/bits';
import { bytes, dateTime, number } from '../components/format';
import { DatasetPageDocument } from '../generated/graphql';

/** One dataset: status (refreshed while VALIDATING), statistics, length histogram, and every error by line. */
export function DatasetPage({ id }: { id: string }) {
  const query = useQuery({
    queryKey: ['dataset', id],
    queryFn: () => request(DatasetPageDocument, { id }),
    refetchInterval: (q) => (q.state.data?.dataset?.status === 'VALIDATING' ? 500 : false),
  });
  if (query.isPending) return <Loading what="the dataset" />;
  if (query.error) return <ErrorMessage error={query.error} prefix="Could not load the dataset" />;
  const d = query.data.dataset;
  if (!d) {
    return (
      <section>
        <h1>Dataset not found</h1>
        <p>
          No dataset {id} in this account. <Link href="/datasets">Back to datasets</Link>
        </p>
      </section>
    );
  }
  const tokens = d.stats?.tokens;
  const histogram = tokens?.lengthHistogram ?? [];
  const tallest = Math.max(1, ...histogram.map((b) => b.count));
  return (
    <section>
      <div className="title-row">
        <h1>
          Dataset <span className="mono">{d.id}</span>
        </h1>
        <Status value={d.status} />
      </div>
      <dl className="facts">
        <div>
          <dt>File</dt>
          <dd>{d.filename ?? '—'}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>{bytes(d.bytes)}</dd>
        </div>
        <div>
          <dt>Format</dt>
          <dd>{d.format ?? '—'}</dd>
        </div>
        <div>
          <dt>Examples</dt>
          <dd>{number(d.stats?.examples ?? d.examples)}</dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>{number(tokens?.total)}</dd>
        </div>
        <div>
          <dt>Trainable tokens</dt>
          <dd>{number(tokens?.trainable)}</dd>
        </div>
        <div>
          <dt>Tokens per example</dt>
          <dd>
            {tokens ? `mean ${number(tokens.mean, 1)}, max ${number(tokens.max)}` : '—'}
            {d.tokenizerModel ? <span className="muted"> ({d.tokenizerModel} tokenizer)</span> : null}
          </dd>
        </div>
        <div>
          <dt>Uploaded</dt>
          <dd>{dateTime(d.createdAt)}</dd>
        </div>
      </dl>
      {histogram.length ? (
        <>
          <h2>Length histogram</h2>
          <ul className="histogram" aria-label="Tokens per example">
            {histogram.map((b) => (
              <li key={b.from} title={`${b.from}–${b.to} tokens: ${b.count} examples`}>
                <span className="bar" style={{ height: `${(100 * b.count) / tallest}%` }} />
                <span className="visually-hidden">
                  {b.from}–{b.to} tokens: {b.count} examples
                </span>
              </li>
            ))}
          </ul>
          <p className="muted axis">
            {histogram[0]!.from} … {histogram.at(-1)!.to} tokens
          </p>
        </>
      ) : null}
      {d.status === 'INVALID' || d.errorCount > 0 ? (
        <>
          <h2>
            {d.errorCount} error{d.errorCount === 1 ? '' : 's'}
          </h2>
          {d.errorCount > d.errors.length ? (
            <p className="muted">
              The first {d.errors.length} are listed. Fix them and upload again; `tuneloop datasets show {d.id}` prints them too.
            </p>
          ) : null}
          <table className="list" aria-label="Dataset errors">
            <thead>
              <tr>
                <th scope="col">Line</th>
                <th scope="col">Code</th>
                <th scope="col">Field</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {d.errors.map((e, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: one line may have several errors
                <tr key={i}>
                  <td>{e.line === null || e.line === undefined ? 'file' : `line ${e.line}`}</td>
                  <td className="mono">{e.code}</td>
                  <td className="mono">{e.field ?? ''}</td>
                  <td>{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      {d.warningCount > 0 ? (
        <>
          <h2>
            {d.warningCount} warning{d.warningCount === 1 ? '' : 's'}
          </h2>
          <ul>
            {d.warnings.map((w, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: warnings have no id
              <li key={i}>
                {w.line ? `line ${w.line}: ` : ''}
                <span className="mono">{w.code}</span> {w.message}
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}
