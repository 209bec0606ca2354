// biome-ignore-all lint/correctness/noVoidTypeReturn: `return next(...)` hands the request on; every listener here returns void
import { Readable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainJsonPost } from './plain-query.js';
import type { PlainQueryExecutor } from './plain-query.js';

type Listener = (request: IncomingMessage, response: ServerResponse) => void;

/** The body a request carried when the fast path handed it on (read by `replayedBody`). */
const REPLAY = Symbol('tuneloop.graphqlReplay');
type Replayable = IncomingMessage & { [REPLAY]?: Buffer };

/**
 * Answers `POST /graphql` JSON queries ahead of fastify, when the plain-query executor can
 * (plain-query.ts); every other request goes to fastify untouched, and so does every
 * request the executor declines, with the body it already read replayed (`replayedBody`,
 * a preParsing hook on the /graphql route) — so anything but a plain successful query is
 * handled exactly as before: yoga behind fastify, its errors, limits and status codes.
 *
 * Only requests whose headers promise a small, plain JSON body are taken: a Content-Length
 * within the body limit, no Transfer-Encoding, Content-Encoding or Expect, a JSON media
 * type and Accept, no Origin (CORS stays fastify's and yoga's), an Authorization header,
 * and not while the server is closing (fastify then answers 503).
 *
 * Why by hand: for a small query, fastify's request and reply objects, hooks and body
 * pipeline cost ≈ 10–15 µs of CPU on our 2-core machines — about a sixth of the whole
 * request once the query itself runs prepared (docs/PERFORMANCE.md, "HTTP overhead").
 */
export function graphqlFastListener(opts: {
  execute: PlainQueryExecutor;
  bodyLimit: number;
  closing: () => boolean;
  onError: (err: unknown) => void;
}): (request: IncomingMessage, response: ServerResponse, next: Listener) => void {
  const { execute, bodyLimit, closing, onError } = opts;

  return graphqlFast;

  function graphqlFast(request: IncomingMessage, response: ServerResponse, next: Listener): void {
    if (request.url !== '/graphql') return next(request, response);
    const headers = request.headers;
    const length = Number(headers['content-length']);
    if (
      !isPlainJsonPost(request.method, headers) ||
      !(length > 0 && length <= bodyLimit) ||
      headers.authorization === undefined ||
      headers['transfer-encoding'] !== undefined ||
      headers['content-encoding'] !== undefined ||
      headers.expect !== undefined ||
      closing()
    ) {
      return next(request, response);
    }

    const chunks: Buffer[] = [];
    // A client that goes away mid-body: node destroys the request; nothing to answer.
    request.once('error', () => response.destroy());
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    // node:http ends a request only after Content-Length bytes; a short body is an error.
    request.once('end', () => answer(request, response, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), next));
  }

  // Functions made once, not named closures made per request: tsx compiles with esbuild's
  // keepNames, which names each named closure with Object.defineProperty as it is created
  // (≈ 3 µs a request here).
  function answer(request: IncomingMessage, response: ServerResponse, raw: Buffer, next: Listener): void {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return handOn(request, response, raw, next);
    }
    let json;
    try {
      json = execute({ method: 'POST', headers: request.headers, body }, response);
    } catch (err) {
      return failed(err, request, response, raw, next);
    }
    if (!(json instanceof Promise)) return respond(json, request, response, raw, next);
    json.then(
      (settled) => respond(settled, request, response, raw, next),
      (err: unknown) => failed(err, request, response, raw, next),
    );
  }

  function failed(err: unknown, request: IncomingMessage, response: ServerResponse, raw: Buffer, next: Listener): void {
    // yoga runs it again and answers with a masked error.
    onError(err);
    handOn(request, response, raw, next);
  }
}

function respond(json: string | undefined, request: IncomingMessage, response: ServerResponse, raw: Buffer, next: Listener): void {
  if (json === undefined) return handOn(request, response, raw, next);
  response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
  response.end(json);
}

function handOn(request: IncomingMessage, response: ServerResponse, raw: Buffer, next: Listener): void {
  (request as Replayable)[REPLAY] = raw;
  next(request, response);
}

/**
 * For a preParsing hook on /graphql: the body of a request the fast path read and then
 * handed on, as the stream fastify parses; undefined for any other request.
 */
export function replayedBody(request: IncomingMessage): (Readable & { receivedEncodedLength: number }) | undefined {
  const raw = (request as Replayable)[REPLAY];
  if (raw === undefined) return undefined;
  return Object.assign(Readable.from([raw]), { receivedEncodedLength: raw.length });
}
