import { createParser } from 'eventsource-parser';
import type { EventSourceMessage } from 'eventsource-parser';

export type { EventSourceMessage };

/**
 * The server-sent events of a response body, in order, parsed by `eventsource-parser`.
 * `onActivity` is called for every chunk received, comments (the server's keep-alives)
 * included, so a caller can tell a quiet stream from a dead connection.
 */
export async function* serverSentEvents(
  body: ReadableStream<Uint8Array>,
  onActivity: () => void = () => {},
): AsyncGenerator<EventSourceMessage> {
  const pending: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => pending.push(event) });
  const decoder = new TextDecoder();
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    onActivity();
    parser.feed(decoder.decode(chunk, { stream: true }));
    while (pending.length > 0) yield pending.shift()!;
  }
}
