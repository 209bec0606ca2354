import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import type { TypedDocumentString } from '../generated/graphql';
import { authorizationHeader, getApiKey, onApiKeyChange, setApiKey } from './session';

/** An error from the API with its machine-readable code (UNAUTHENTICATED, NOT_FOUND, …). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/**
 * Runs a query or mutation over HTTP with the signed-in key. GraphQL errors become an
 * ApiError carrying the first error's code; a 401 also signs the tab out (the key was
 * revoked), so the sign-in page says why instead of every page failing.
 */
export async function request<TResult, TVariables>(
  document: TypedDocumentString<TResult, TVariables>,
  variables?: TVariables,
): Promise<TResult> {
  const key = getApiKey();
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...authorizationHeader(key) },
    body: JSON.stringify({ query: document.toString(), variables: variables ?? {} }),
  });
  let body: GraphQLResponse<TResult>;
  try {
    body = (await response.json()) as GraphQLResponse<TResult>;
  } catch {
    throw new ApiError(`the server answered ${response.status} ${response.statusText}`, 'BAD_RESPONSE');
  }
  const first = body.errors?.[0];
  if (response.status === 401 || first?.extensions?.code === 'UNAUTHENTICATED') {
    if (key) setApiKey(null);
    throw new ApiError('That API key was not accepted.', 'UNAUTHENTICATED');
  }
  if (first) throw new ApiError(first.message, first.extensions?.code ?? 'ERROR');
  if (!body.data) throw new ApiError(`the server answered ${response.status} without data`, 'BAD_RESPONSE');
  return body.data;
}

/** Payload errors (`{ errors: [{ code, message }] }` of a mutation) as an ApiError. */
export function throwPayloadErrors(errors: ReadonlyArray<{ code: string; message: string; field?: string | null }>): void {
  const first = errors[0];
  if (first) throw new ApiError(first.message, first.code, first.field ?? undefined);
}

let wsClient: Client | undefined;

/**
 * One graphql-ws connection per tab, opened on the first subscription and closed when the
 * last one ends (lazy). No automatic retry: a subscription that loses its socket errors,
 * and its owner resubscribes from where it stopped (live training resumes with
 * `afterStep`), so a retried subscription never replays with stale variables.
 */
export function subscriptions(): Client {
  wsClient ??= createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    connectionParams: () => authorizationHeader(),
    lazy: true,
    retryAttempts: 0,
  });
  return wsClient;
}

// A new key means a new connection (graphql-ws authenticates once per socket).
onApiKeyChange(() => {
  const old = wsClient;
  wsClient = undefined;
  void old?.dispose();
});

/**
 * Subscribes with a typed document; `onNext` gets each event. Resolves when the server
 * completes the subscription and rejects on an error or a dropped socket.
 */
export function subscribe<TResult, TVariables>(
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
  onNext: (data: TResult) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = subscriptions().subscribe<TResult>(
      { query: document.toString(), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          const first = result.errors?.[0];
          if (first) {
            const code = (first.extensions as { code?: string } | undefined)?.code ?? 'ERROR';
            reject(new ApiError(first.message, code));
            stop();
          } else if (result.data) onNext(result.data);
        },
        error: (err) => reject(errorFromSocket(err)),
        complete: resolve,
      },
    );
    signal?.addEventListener('abort', () => {
      stop();
      resolve();
    });
  });
}

function errorFromSocket(err: unknown): Error {
  if (err instanceof Error) return err;
  if (Array.isArray(err)) {
    const first = err[0] as { message?: string; extensions?: { code?: string } } | undefined;
    return new ApiError(first?.message ?? 'subscription failed', first?.extensions?.code ?? 'ERROR');
  }
  const close = err as { code?: number; reason?: string };
  if (close && typeof close.code === 'number') {
    if (close.code === 4403 || close.code === 4401) return new ApiError('That API key was not accepted.', 'UNAUTHENTICATED');
    return new ApiError(`the live connection closed (${close.code}${close.reason ? `: ${close.reason}` : ''})`, 'DISCONNECTED');
  }
  return new ApiError('the live connection failed', 'DISCONNECTED');
}
