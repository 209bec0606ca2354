/**
 * The signed-in API key lives in this tab's session storage only: never in a URL, gone
 * when the tab closes, cleared by Sign out. GraphiQL (served by the api at /graphql, same
 * origin, same tab) reads the same entry to fill in its Authorization header.
 */
export const SESSION_KEY = 'tuneloop.apiKey';

type Listener = (key: string | null) => void;
const listeners = new Set<Listener>();

export function getApiKey(): string | null {
  return sessionStorage.getItem(SESSION_KEY);
}

export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(SESSION_KEY, key);
  else sessionStorage.removeItem(SESSION_KEY);
  for (const listener of listeners) listener(key);
}

/** Calls `listener` whenever the key changes (sign in, sign out, a 401 from the API). */
export function onApiKeyChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function authorizationHeader(key = getApiKey()): Record<string, string> {
  return key ? { authorization: `Bearer ${key}` } : {};
}
