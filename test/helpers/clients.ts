import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createParser } from 'eventsource-parser';
import type { TypedDocumentString } from '../generated/graphql.js';

export interface GraphQLResponse<T> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/** POST a typed operation over HTTP. */
export async function gql<T, V>(
  url: string,
  apiKey: string | undefined,
  document: TypedDocumentString<T, V>,
  variables?: V,
): Promise<GraphQLResponse<T>> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({ query: document.toString(), variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status'>;
  return { status: response.status, ...body };
}

/** A graphql-ws client (Node needs `ws` as the WebSocket implementation). */
export function wsClient(url: string, apiKey: string | undefined, opts: { retryAttempts?: number; lazy?: boolean } = {}): Client {
  return createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
    retryAttempts: opts.retryAttempts ?? 0,
    lazy: opts.lazy ?? true,
  });
}

/** Runs one operation over graphql-ws and collects every result until it completes. */
export function wsCollect<T>(
  client: Client,
  query: string,
  variables?: Record<string, unknown>,
  onNext?: (value: { data?: T; errors?: unknown }) => void,
): Promise<Array<{ data?: T; errors?: unknown }>> {
  return new Promise((resolve, reject) => {
    const results: Array<{ data?: T; errors?: unknown }> = [];
    client.subscribe<T>(
      { query, variables: variables ?? {} },
      {
        next: (value) => {
          results.push(value as { data?: T; errors?: unknown });
          onNext?.(value as { data?: T; errors?: unknown });
        },
        error: reject,
        complete: () => resolve(results),
      },
    );
  });
}

export interface SseEvent {
  event: string | undefined;
  data: string;
  id: string | undefined;
}

/**
 * Reads a text/event-stream response until it ends or `until` returns true; returns the
 * events. Uses fetch + eventsource-parser, the way a browser EventSource would parse.
 */
export async function readSse(response: Response, until?: (event: SseEvent, all: SseEvent[]) => boolean): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  let done = false;
  const parser = createParser({
    onEvent: (e) => {
      const ev = { event: e.event, data: e.data, id: e.id };
      events.push(ev);
      if (until?.(ev, events)) done = true;
    },
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  try {
    while (!done) {
      const { value, done: finished } = await reader.read();
      if (finished) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return events;
}

/** GraphQL over SSE (yoga's single-connection mode: POST with Accept: text/event-stream). */
export async function gqlSse(
  url: string,
  apiKey: string | undefined,
  query: string,
  variables?: Record<string, unknown>,
  until?: (event: SseEvent, all: SseEvent[]) => boolean,
): Promise<{ status: number; events: SseEvent[] }> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  if (!response.headers.get('content-type')?.includes('text/event-stream')) {
    await response.body?.cancel();
    return { status: response.status, events: [] };
  }
  return { status: response.status, events: await readSse(response, until) };
}
