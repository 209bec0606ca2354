import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { type DragEvent, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { request } from '../api/graphql';
import { uploadDataset } from '../api/upload';
import { ErrorMessage, Loading, Status } from '../components/bits';
import { bytes, dateTime, number } from '../components/format';
import { DatasetListDocument } from '../generated/graphql';
import { Pager, usePages } from '../components/pager';

/** The account's datasets and an upload area (file picker or drag and drop, with progress). */
export function DatasetsPage() {
  const pages = usePages();
  const { after } = pages;
  const list = useQuery({
    queryKey: ['datasets', after],
    queryFn: () => request(DatasetListDocument, { first: 50, after }),
    placeholderData: keepPreviousData,
    refetchInterval: (q) => (q.state.data?.datasets.edges.some((e) => e.node.status === 'VALIDATING') ? 1_000 : false),
  });
  const edges = list.data?.datasets.edges ?? [];
  return (
    <section>
      <h1>Datasets</h1>
      <Upload />
      <ErrorMessage error={list.error} prefix="Could not load datasets" />
      {list.isPending ? <Loading what="datasets" /> : null}
      {list.data && edges.length === 0 ? <p className="muted">No datasets yet.</p> : null}
      {edges.length ? (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">Dataset</th>
              <th scope="col">File</th>
              <th scope="col">Status</th>
              <th scope="col">Format</th>
              <th scope="col">Examples</th>
              <th scope="col">Size</th>
              <th scope="col">Errors</th>
              <th scope="col">Uploaded</th>
            </tr>
          </thead>
          <tbody>
            {edges.map(({ node: d }) => (
              <tr key={d.id}>
                <td>
                  <Link href={`/datasets/${d.id}`}>{d.id}</Link>
                </td>
                <td>{d.filename ?? '—'}</td>
                <td>
                  <Status value={d.status} />
                </td>
                <td>{d.format ?? '—'}</td>
                <td>{number(d.examples)}</td>
                <td>{bytes(d.bytes)}</td>
                <td>{d.errorCount || '—'}</td>
                <td>{dateTime(d.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <Pager pages={pages} pageInfo={list.data?.datasets.pageInfo} />
    </section>
  );
}

function Upload() {
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [dragging, setDragging] = useState(false);
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();

  async function send(file: File | undefined) {
    if (!file) return;
    setError(null);
    setProgress(0);
    try {
      const dataset = await uploadDataset(file, setProgress);
      void queryClient.invalidateQueries({ queryKey: ['datasets'] });
      navigate(`/datasets/${dataset.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setProgress(null);
    }
  }

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    void send(event.dataTransfer.files[0]);
  };
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: dropping a file is a shortcut; the labelled file input is the accessible way
    <div
      className={`card drop${dragging ? ' dragging' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
    >
      <label className="field">
        <span>Upload dataset</span>
        <input
          type="file"
          accept=".jsonl,application/jsonl,application/x-ndjson,text/plain"
          disabled={progress !== null}
          onChange={(e) => {
            void send(e.target.files?.[0]);
            e.target.value = '';
          }}
        />
      </label>
      <p className="muted">…or drop a JSONL file here. Each line is one example (chat: {'{"messages": [...]}'}).</p>
      {progress !== null ? (
        <progress max={1} value={progress} aria-label="Upload progress">
          {Math.round(progress * 100)} %
        </progress>
      ) : null}
      <ErrorMessage error={error} prefix="Upload failed" />
    </div>
  );
}
