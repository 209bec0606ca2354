import { getOperationAST } from 'graphql';
import type { ExecutionResult } from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import type { CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';
import type { Principal } from '../accounts/service.js';
import type { Services } from '../services.js';
import { forgetContext } from './builder.js';
import type { GraphQLContext } from './builder.js';
import type { Yoga } from './yoga.js';

/** What the fast path reads from a request: its method, headers and JSON body, already parsed. */
export interface PlainQueryRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** The response the request belongs to: aborts the context's signal if it closes early. */
export interface PlainQueryResponse {
  once(event: 'close', listener: () => void): unknown;
  readonly writableFinished: boolean;
}

/** The JSON to answer with 200 — at once when every resolver answered synchronously — or undefined when yoga must answer. */
export type PlainQueryExecutor = (
  request: PlainQueryRequest,
  response: PlainQueryResponse,
) => string | undefined | Promise<string | undefined>;

/**
 * The context resolvers get on the fast path: the same fields yoga's context factory gives
 * (yoga.ts), with the abort signal made only when a resolver asks for it.
 */
class PlainQueryContext implements GraphQLContext {
  private controller: AbortController | undefined;

  constructor(
    readonly principal: Principal,
    readonly services: Services,
    private readonly response: PlainQueryResponse,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = (this.controller = new AbortController());
      this.response.once('close', () => {
        if (!this.response.writableFinished) controller.abort();
      });
    }
    return this.controller.signal;
  }
}

/**
 * A same-origin JSON POST that wants a JSON answer: the only requests the fast path may
 * take (SSE, multipart, forms and CORS stay yoga's).
 */
export function isPlainJsonPost(method: string | undefined, headers: PlainQueryRequest['headers']): boolean {
  const type = headers['content-type'];
  const accept = headers.accept;
  return (
    method === 'POST' &&
    headers.origin === undefined &&
    typeof type === 'string' &&
    (type === 'application/json' || type.startsWith('application/json;')) &&
    (accept === undefined || accept === '*/*' || accept === 'application/json')
  );
}

/** Queries that cannot take the fast path (invalid, a mutation…) are remembered as such. */
const NOT_PLAIN = false as const;

/**
 * The fast path for the most common GraphQL request: an authenticated JSON POST of a
 * query that executes without errors. Its document is parsed and validated once, by yoga
 * (`getEnveloped`: the same schema, parser, validation rules and armor limits as every
 * other request), then compiled with graphql-jit — the engine yoga's own query execution
 * uses here (useGraphQlJit in yoga.ts) — and kept by query text. A request then costs
 * one map lookup, the compiled query and JSON.stringify — without a promise when the
 * resolvers answer from memory.
 *
 * Anything else returns undefined and yoga answers it in full: another method, media type
 * or Accept, a CORS request, extensions (persisted queries), a missing or unknown key, a
 * mutation or subscription, a document that fails parsing or validation (yoga formats
 * those with its status codes), and any result with errors (yoga runs it again and masks
 * the errors; queries have no side effects).
 *
 * Why by hand: yoga's HTTP pipeline (a WHATWG Request and Response per request, then the
 * envelop orchestrator, whose validation cache builds its key from every rule's name)
 * cost ≈ 130 µs of CPU per small query on our machines (docs/PERFORMANCE.md, "HTTP
 * overhead").
 */
export function createPlainQueryExecutor(yoga: Yoga, services: Services, opts: { maxQueries?: number } = {}): PlainQueryExecutor {
  // Keyed by operation name and query text. Bounded: each entry holds compiled code.
  const prepared = new LRUCache<string, CompiledQuery | typeof NOT_PLAIN>({ max: opts.maxQueries ?? 1_000 });

  function prepare(query: string, operationName: string | undefined): CompiledQuery | typeof NOT_PLAIN {
    const { schema, parse, validate } = yoga.getEnveloped({ params: { query, operationName } } as never);
    try {
      const document = parse(query);
      if (validate(schema, document).length > 0) return NOT_PLAIN;
      if (getOperationAST(document, operationName)?.operation !== 'query') return NOT_PLAIN;
      const compiled = compileQuery(schema, document, operationName);
      return isCompiledQuery(compiled) ? compiled : NOT_PLAIN;
    } catch {
      // Parse errors and armor's limits (tokens, depth, cost, aliases) throw from here.
      return NOT_PLAIN;
    }
  }

  return function executePlainQuery(request, response) {
    const { headers, body } = request;
    if (!isPlainJsonPost(request.method, headers)) return undefined;
    if (typeof body !== 'object' || body === null) return undefined;
    const { query, variables, operationName, extensions } = body as Record<string, unknown>;
    if (typeof query !== 'string' || extensions !== undefined) return undefined;
    if (variables != null && (typeof variables !== 'object' || Array.isArray(variables))) return undefined;
    if (operationName != null && typeof operationName !== 'string') return undefined;
    const operation: Operation = {
      query,
      variables: (variables ?? {}) as Record<string, unknown>,
      operationName: operationName ?? undefined,
    };

    const authorization = typeof headers.authorization === 'string' ? headers.authorization : undefined;
    const principal = services.accounts.cachedPrincipal(authorization);
    if (principal === undefined) {
      return services.accounts.authenticate(authorization).then((found) => (found ? run(found, operation, response) : undefined));
    }
    return principal ? run(principal, operation, response) : undefined;
  };

  /** Synchronous when every resolver is (cached listings): no promise between request and write. */
  function run(principal: Principal, operation: Operation, response: PlainQueryResponse): MaybeJson {
    const key = operation.operationName === undefined ? operation.query : `${operation.operationName}\n${operation.query}`;
    let compiled = prepared.get(key);
    if (compiled === undefined) prepared.set(key, (compiled = prepare(operation.query, operation.operationName)));
    if (compiled === NOT_PLAIN) return undefined;

    const context = new PlainQueryContext(principal, services, response);
    let result;
    try {
      result = compiled.query(undefined, context, operation.variables) as ExecutionResult | Promise<ExecutionResult>;
    } catch (err) {
      forgetContext(context);
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (settled) => finish(settled, context),
        (err: unknown) => {
          forgetContext(context);
          throw err;
        },
      );
    }
    return finish(result, context);
  }
}

interface Operation {
  query: string;
  variables: Record<string, unknown>;
  operationName: string | undefined;
}

type MaybeJson = string | undefined | Promise<string | undefined>;

function finish(result: ExecutionResult, context: PlainQueryContext): string | undefined {
  forgetContext(context);
  return result.errors?.length ? undefined : JSON.stringify(result);
}
