import type { ReactNode } from 'react';
import { ApiError } from '../api/graphql';

/** An API error shown where it happened, as words (never a blank page or a stack). */
export function ErrorMessage({ error, prefix }: { error: unknown; prefix?: string }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof ApiError && !['ERROR', 'BAD_RESPONSE'].includes(error.code) ? ` (${error.code})` : '';
  return (
    <p className="error" role="alert">
      {prefix ? `${prefix}: ` : ''}
      {message}
      {code}
    </p>
  );
}

/** A status word with a colour; unknown statuses (added by newer servers) show as they are. */
export function Status({ value }: { value: string }) {
  return <span className={`status status-${value.toLowerCase()}`}>{value}</span>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Field({ label, children, hint }: { label: string; children: ReactNode; hint?: ReactNode }) {
  return (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is `children` (a label wrapping its input names it)
    <label className="field">
      <span>{label}</span>
      {children}
      {hint ? <small className="muted">{hint}</small> : null}
    </label>
  );
}

export const TERMINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
/** Job statuses that stay as they are until someone acts: the terminal ones and PAUSED (lists poll them slowly). */
export const AT_REST = [...TERMINAL, 'PAUSED'];
/** Job statuses `pauseTraining` accepts (VALIDATING is refused: JOB_NOT_PAUSABLE). */
export const PAUSABLE = ['QUEUED', 'RUNNING'];
