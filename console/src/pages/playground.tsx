import { useQuery } from '@tanstack/react-query';
import { useDeploy } from '../api/deploy';
import { type FormEvent, useEffect, useMemo, useRef, useState } from 'react';
import { useSearch } from 'wouter';
import { request, subscribe } from '../api/graphql';
import { ErrorMessage, Field, Status } from '../components/bits';
import { usd } from '../components/format';
import { ChatStreamDocument, DeploymentListDocument, ModelListDocument } from '../generated/graphql';

interface Turn {
  role: 'user' | 'assistant';
  content: string;
  usage?: { promptTokens: number; completionTokens: number; totalTokens: number } | null;
  cost?: string | null;
  finishReason?: string | null;
}

/** Chat with a deployed model; the answer streams in over the `generateStream` subscription. */
export function PlaygroundPage() {
  const search = useSearch();
  const wanted = new URLSearchParams(search).get('model');
  const deployments = useQuery({
    queryKey: ['deployments'],
    queryFn: () => request(DeploymentListDocument),
    refetchInterval: (q) => (q.state.data?.deployments.some((d) => d.status === 'LOADING') ? 500 : 10_000),
  });
  const models = useQuery({ queryKey: ['models'], queryFn: () => request(ModelListDocument, {}) });
  const live = (deployments.data?.deployments ?? []).filter((d) => d.status !== 'UNDEPLOYED');
  const [model, setModel] = useState<string>(wanted ?? '');
  useEffect(() => {
    if (!model && live[0]) setModel(live[0].modelId);
  }, [model, live]);
  const deployment = live.find((d) => d.modelId === model);

  const deploy = useDeploy();

  const [system, setSystem] = useState('');
  const [temperature, setTemperature] = useState('0');
  const [maxTokens, setMaxTokens] = useState('64');
  const [message, setMessage] = useState('');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const abort = useRef<AbortController | null>(null);
  useEffect(() => () => abort.current?.abort(), []);

  const modelChoices = useMemo(() => {
    const ids = new Set(live.map((d) => d.modelId));
    for (const m of models.data?.models.edges ?? []) ids.add(m.node.id);
    if (wanted) ids.add(wanted);
    return [...ids];
  }, [live, models.data, wanted]);

  async function send(event: FormEvent) {
    event.preventDefault();
    const text = message.trim();
    if (!text || !deployment || deployment.status !== 'READY') return;
    const history: Turn[] = [...turns, { role: 'user', content: text }];
    setTurns([...history, { role: 'assistant', content: '' }]);
    setMessage('');
    setError(null);
    setStreaming(true);
    abort.current = new AbortController();
    const messages = [
      ...(system.trim() ? [{ role: 'system', content: system.trim() }] : []),
      ...history.map((t) => ({ role: t.role, content: t.content })),
    ];
    const update = (patch: (t: Turn) => Turn) => setTurns((all) => [...all.slice(0, -1), patch(all[all.length - 1]!)]);
    try {
      await subscribe(
        ChatStreamDocument,
        {
          input: {
            model,
            messages,
            temperature: temperature === '' ? null : Number(temperature),
            maxTokens: maxTokens === '' ? null : Number.parseInt(maxTokens, 10),
          },
        },
        ({ generateStream: e }) =>
          update((t) => ({
            ...t,
            content: t.content + e.text,
            ...(e.done ? { usage: e.usage, cost: e.cost, finishReason: e.finishReason } : {}),
          })),
        abort.current.signal,
      );
    } catch (err) {
      setError(err);
    } finally {
      setStreaming(false);
    }
  }

  return (
    <section className="playground">
      <h1>Playground</h1>
      <div className="grid">
        <Field label="Model">
          <select value={model} onChange={(e) => setModel(e.target.value)}>
            {modelChoices.length === 0 ? <option value="">No model</option> : null}
            {modelChoices.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </Field>
        <div className="deployment" aria-live="polite">
          {deployment ? (
            <>
              Deployment <Status value={deployment.status} />
              {deployment.status === 'LOADING' ? <span className="muted"> loading the model…</span> : null}
              {deployment.error ? <span className="error"> {deployment.error}</span> : null}
            </>
          ) : model ? (
            <button type="button" onClick={() => deploy.mutate(model)} disabled={deploy.isPending}>
              Deploy {model}
            </button>
          ) : null}
        </div>
        <Field label="Temperature">
          <input inputMode="decimal" value={temperature} onChange={(e) => setTemperature(e.target.value)} />
        </Field>
        <Field label="Max tokens">
          <input inputMode="numeric" value={maxTokens} onChange={(e) => setMaxTokens(e.target.value)} />
        </Field>
      </div>
      <ErrorMessage error={deployments.error} prefix="Could not load deployments" />
      <ErrorMessage error={deploy.error} prefix="Could not deploy" />
      <Field label="System prompt">
        <textarea rows={2} value={system} onChange={(e) => setSystem(e.target.value)} />
      </Field>
      <ol className="chat" aria-label="Conversation" aria-live="polite">
        {turns.map((t, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: the conversation only grows
          <li key={i} className={`turn ${t.role}`}>
            <span className="speaker">{t.role === 'user' ? 'You' : model}</span>
            <p className="text" data-role={t.role}>
              {t.content || (streaming && i === turns.length - 1 ? '…' : '')}
            </p>
            {t.usage ? (
              <p className="muted usage">
                {t.usage.promptTokens} prompt + {t.usage.completionTokens} completion = {t.usage.totalTokens} tokens · {usd(t.cost)} ·{' '}
                {t.finishReason?.toLowerCase()}
              </p>
            ) : null}
          </li>
        ))}
      </ol>
      <ErrorMessage error={error} prefix="The answer failed" />
      <form onSubmit={send} className="composer">
        <Field label="Message">
          <textarea
            rows={3}
            value={message}
            onChange={(e) => setMessage(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) e.currentTarget.form?.requestSubmit();
            }}
          />
        </Field>
        <button type="submit" disabled={streaming || !message.trim() || deployment?.status !== 'READY'}>
          Send
        </button>
        {streaming ? (
          <button type="button" className="secondary" onClick={() => abort.current?.abort()}>
            Stop
          </button>
        ) : null}
      </form>
    </section>
  );
}
