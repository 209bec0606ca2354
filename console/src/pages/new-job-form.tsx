import { useMutation, useQuery } from '@tanstack/react-query';
import { type FormEvent, useEffect, useMemo, useState } from 'react';
import { useLocation } from 'wouter';
import { request, throwPayloadErrors } from '../api/graphql';
import { ErrorMessage, Field } from '../components/bits';
import { number, usd } from '../components/format';
import { EstimateDocument, NewJobOptionsDocument, StartJobDocument } from '../generated/graphql';
import type { FineTuneMethod, StartFineTuneInput } from '../generated/graphql';

/** The hyperparameters the form offers; empty means "auto" (the server decides, and the estimate shows what it chose). */
const HYPERPARAMETERS = [
  { key: 'epochs', label: 'Epochs', kind: 'int' },
  { key: 'batchSize', label: 'Batch size', kind: 'int' },
  { key: 'learningRate', label: 'Learning rate', kind: 'float' },
  { key: 'maxSeqLength', label: 'Max sequence length', kind: 'int' },
  { key: 'loraRank', label: 'LoRA rank', kind: 'int', lora: true },
  { key: 'loraAlpha', label: 'LoRA alpha', kind: 'float', lora: true },
] as const;
type HpKey = (typeof HYPERPARAMETERS)[number]['key'];

function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

/** Start a job: choose a model and a READY dataset, see the cost estimate and the balance, then Start. */
export function NewJobForm({ onCancel }: { onCancel: () => void }) {
  const [, navigate] = useLocation();
  const options = useQuery({ queryKey: ['new-job-options'], queryFn: () => request(NewJobOptionsDocument) });
  const [model, setModel] = useState('');
  const [dataset, setDataset] = useState('');
  const [method, setMethod] = useState<FineTuneMethod>('LORA');
  const [suffix, setSuffix] = useState('');
  const [hp, setHp] = useState<Record<HpKey, string>>({
    epochs: '',
    batchSize: '',
    learningRate: '',
    maxSeqLength: '',
    loraRank: '',
    loraAlpha: '',
  });

  // Defaults once the lists arrive: the first model and the newest ready dataset.
  useEffect(() => {
    if (!options.data) return;
    if (!model && options.data.fineTunableModels[0]) setModel(options.data.fineTunableModels[0].id);
    if (!dataset && options.data.datasets.edges[0]) setDataset(options.data.datasets.edges[0].node.id);
  }, [options.data, model, dataset]);

  const input = useMemo((): StartFineTuneInput | null => {
    if (!model || !dataset) return null;
    const hyperparameters: Record<string, number> = {};
    for (const h of HYPERPARAMETERS) {
      if (h.key.startsWith('lora') && method === 'FULL') continue;
      const text = hp[h.key].trim();
      if (text === '' || text === 'auto') continue;
      hyperparameters[h.key] = h.kind === 'int' ? Number.parseInt(text, 10) : Number(text);
    }
    return {
      baseModel: model,
      trainingDataset: dataset,
      method,
      hyperparameters,
      ...(suffix.trim() ? { suffix: suffix.trim() } : {}),
    };
  }, [model, dataset, method, suffix, hp]);
  const debouncedInput = useDebounced(input, 250);

  const estimate = useQuery({
    queryKey: ['estimate', debouncedInput],
    queryFn: () => request(EstimateDocument, { input: debouncedInput! }),
    enabled: debouncedInput !== null,
    retry: false,
  });
  const current = debouncedInput === input ? estimate.data?.estimateFineTuneCost : undefined;
  const start = useMutation({
    mutationFn: async (variables: StartFineTuneInput) => {
      const result = (await request(StartJobDocument, { input: variables })).startFineTune;
      throwPayloadErrors(result.errors);
      return result.job!;
    },
    onSuccess: (job) => navigate(`/jobs/${job.id}`),
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    if (input && current?.allowedToProceed) start.mutate(input);
  }

  const models = options.data?.fineTunableModels ?? [];
  const datasets = options.data?.datasets.edges ?? [];
  return (
    <form className="card new-job" onSubmit={submit} aria-label="New job">
      <h2>New fine-tuning job</h2>
      <ErrorMessage error={options.error} prefix="Could not load models and datasets" />
      <div className="grid">
        <Field label="Base model">
          <select value={model} onChange={(e) => setModel(e.target.value)} required>
            {models.length === 0 ? <option value="">No fine-tunable model</option> : null}
            {models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id} ({usd(m.pricePerMillionTrainingTokens)} / 1M tokens)
              </option>
            ))}
          </select>
        </Field>
        <Field label="Training dataset">
          <select value={dataset} onChange={(e) => setDataset(e.target.value)} required>
            {datasets.length === 0 ? <option value="">No READY dataset: upload one under Datasets</option> : null}
            {datasets.map(({ node: d }) => (
              <option key={d.id} value={d.id}>
                {d.filename ?? d.id} ({d.examples ?? '?'} examples)
              </option>
            ))}
          </select>
        </Field>
        <Field label="Method">
          <select value={method} onChange={(e) => setMethod(e.target.value as FineTuneMethod)}>
            <option value="LORA">LoRA (adapters)</option>
            <option value="FULL">Full (all weights)</option>
            <option value="DPO">DPO (preference pairs, LoRA)</option>
          </select>
        </Field>
        {HYPERPARAMETERS.filter((h) => !('lora' in h) || method !== 'FULL').map((h) => {
          const chosen = current?.hyperparameters[h.key as keyof typeof current.hyperparameters];
          return (
            <Field key={h.key} label={h.label} hint={hp[h.key].trim() === '' && chosen !== undefined ? `auto → ${chosen}` : undefined}>
              <input
                inputMode="decimal"
                placeholder="auto"
                value={hp[h.key]}
                onChange={(e) => setHp((v) => ({ ...v, [h.key]: e.target.value }))}
              />
            </Field>
          );
        })}
        <Field label="Suffix" hint="a-z, 0-9 and -, in the fine-tuned model's id">
          <input value={suffix} onChange={(e) => setSuffix(e.target.value)} maxLength={40} />
        </Field>
      </div>
      <div className="estimate" aria-live="polite">
        {estimate.isFetching && !current ? <p className="muted">Estimating…</p> : null}
        <ErrorMessage error={estimate.error} prefix="Cannot estimate" />
        {current ? (
          <>
            <p>
              Estimated cost <strong>{usd(current.cost)}</strong> for {number(current.billableTokens)} tokens ({current.epochs} epochs of{' '}
              {number(current.examples)} examples). Available balance <strong>{usd(current.available)}</strong>.
            </p>
            {current.allowedToProceed ? null : (
              <p className="error" role="alert">
                Insufficient balance: this job needs {usd(current.cost)} but {usd(current.available)} is available. Top up the account
                first.
              </p>
            )}
          </>
        ) : null}
      </div>
      <ErrorMessage error={start.error} prefix="Could not start the job" />
      <div className="actions">
        <button type="submit" disabled={!current?.allowedToProceed || start.isPending}>
          Start
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Close
        </button>
      </div>
    </form>
  );
}
