import type { FastifyReply, FastifyRequest } from 'fastify';
import { isOpenAiPath, openAiErrorOf } from './openai-errors.js';
import { problem } from './problem.js';

/**
 * A request body must keep arriving: one that stops for `ms` — a client that sent fewer
 * bytes than its Content-Length and went quiet — is answered 408 REQUEST_TIMEOUT and its
 * connection closed, instead of holding a socket (and a handler) open forever.
 *
 * An idle timeout on the socket while the body is read, not Node's `requestTimeout`: that
 * one bounds the whole request, so it would also cut a slow but steady upload of a large
 * dataset. Requests without a body (GET, WebSocket upgrades) are not touched.
 */
export function bodyTimeoutHook(ms: number) {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const raw = request.raw;
    const headers = raw.headers;
    const length = headers['content-length'];
    if (ms > 0 && !raw.complete && ((length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined)) {
      raw.setTimeout(ms, () => {
        const response = reply.raw;
        if (!response.headersSent) {
          const detail = `the request body stopped arriving for ${ms / 1000} s before it was complete`;
          const openAi = isOpenAiPath(request.url);
          const body = JSON.stringify(
            openAi ? openAiErrorOf(408, detail, 'request_timeout').body : problem(408, 'REQUEST_TIMEOUT', detail),
          );
          response.writeHead(408, {
            'content-type': openAi ? 'application/json' : 'application/problem+json',
            'content-length': Buffer.byteLength(body),
            connection: 'close',
          });
          response.end(body, () => raw.socket?.destroy());
        } else {
          raw.socket?.destroy();
        }
      });
      // Once the body is in, the connection's usual timeouts apply again.
      raw.once('end', () => raw.setTimeout(0));
    }
    done();
  };
}
