import { useQuery } from '@tanstack/react-query';
import { useDeploy } from '../api/deploy';
import { useLocation } from 'wouter';
import { request } from '../api/graphql';
import { ErrorMessage, Loading } from '../components/bits';
import { dateTime, number, usd } from '../components/format';
import { ModelListDocument } from '../generated/graphql';

/** The catalog (base models) and the account's fine-tuned models, with Deploy. */
export function ModelsPage() {
  const [, navigate] = useLocation();
  const models = useQuery({ queryKey: ['models'], queryFn: () => request(ModelListDocument, {}) });
  const deploy = useDeploy((d) => navigate(`/playground?model=${encodeURIComponent(d.modelId)}`));
  const all = (models.data?.models.edges ?? []).map((e) => e.node);
  const base = all.filter((m) => m.isBaseModel);
  const tuned = all.filter((m) => !m.isBaseModel);
  return (
    <section>
      <h1>Models</h1>
      <ErrorMessage error={models.error} prefix="Could not load models" />
      <ErrorMessage error={deploy.error} prefix="Could not deploy" />
      {models.isPending ? <Loading what="models" /> : null}
      <h2>Catalog</h2>
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Fine-tunable</th>
            <th scope="col">Architecture</th>
            <th scope="col">Parameters</th>
            <th scope="col">Context length</th>
            <th scope="col">Training / 1M tokens</th>
            <th scope="col">Inference / 1M tokens</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {base.map((m) => (
            <tr key={m.id}>
              <td className="mono">{m.id}</td>
              <td>{m.fineTunable ? 'yes' : 'no'}</td>
              <td>{m.architecture}</td>
              <td>{number(m.parameterCount)}</td>
              <td>{number(m.contextLength)}</td>
              <td>{usd(m.pricePerMillionTrainingTokens)}</td>
              <td>{usd(m.pricePerMillionInferenceTokens)}</td>
              <td>
                <button type="button" className="secondary" onClick={() => deploy.mutate(m.id)} disabled={deploy.isPending}>
                  Deploy {m.id}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Your fine-tuned models</h2>
      {models.data && tuned.length === 0 ? <p className="muted">None yet: a SUCCEEDED job adds one.</p> : null}
      {tuned.length ? (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Base</th>
              <th scope="col">Created</th>
              <th scope="col">Inference / 1M tokens</th>
              <th scope="col" />
            </tr>
          </thead>
          <tbody>
            {tuned.map((m) => (
              <tr key={m.id}>
                <td className="mono">{m.id}</td>
                <td>{m.baseModel?.id ?? '—'}</td>
                <td>{dateTime(m.createdAt)}</td>
                <td>{usd(m.pricePerMillionInferenceTokens)}</td>
                <td>
                  <button type="button" className="secondary" onClick={() => deploy.mutate(m.id)} disabled={deploy.isPending}>
                    Deploy {m.id}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
