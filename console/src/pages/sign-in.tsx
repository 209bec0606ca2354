import { type FormEvent, useState } from 'react';
import { ApiError, request } from '../api/graphql';
import { SESSION_KEY, setApiKey } from '../api/session';
import { ErrorMessage } from '../components/bits';
import { SignInCheckDocument } from '../generated/graphql';

/** Sign in with an API key; it is checked against the API before the console opens. */
export function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const trimmed = key.trim();
    // Stored first so the check sends it; request() removes it again when it is refused.
    sessionStorage.setItem(SESSION_KEY, trimmed);
    try {
      await request(SignInCheckDocument);
      onSignedIn();
      setApiKey(trimmed);
    } catch (err) {
      sessionStorage.removeItem(SESSION_KEY);
      setError(err instanceof ApiError && err.code === 'UNAUTHENTICATED' ? new Error('That API key was not accepted.') : err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="sign-in">
      <h1>Tuneloop</h1>
      <p className="muted">Sign in with an API key (`tuneloop accounts create` prints one; `tuneloop start --demo` prints the demo key).</p>
      {notice ? <p className="notice">{notice}</p> : null}
      <form onSubmit={submit}>
        <label className="field">
          <span>API key</span>
          <input type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} required />
        </label>
        <button type="submit" disabled={busy || !key.trim()}>
          Sign in
        </button>
      </form>
      <ErrorMessage error={error} />
    </main>
  );
}
