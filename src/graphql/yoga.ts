import { createYoga, maskError as defaultMaskError } from 'graphql-yoga';
import type { YogaServerInstance } from 'graphql-yoga';
import { GraphQLError, getOperationAST } from 'graphql';
import type { ExecutionResult } from 'graphql';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { createFetch } from '@whatwg-node/fetch';
import type { Principal } from '../accounts/service.js';
import type { Services } from '../services.js';
import { DomainError } from '../errors.js';
import { getSchema } from './schema.js';
import type { GraphQLContext } from './builder.js';

/** What the HTTP host or the graphql-ws server hands yoga besides the request. */
export interface ServerContext {
  /** Set by graphql-ws after `connectionParams` were authenticated. */
  principal?: Principal | null;
  signal?: AbortSignal;
}

export type Yoga = YogaServerInstance<ServerContext, GraphQLContext>;

function unauthenticated(): Response {
  const body = JSON.stringify({
    errors: [
      {
        message: 'missing or invalid API key: send "Authorization: Bearer <apiKey>"',
        extensions: { code: 'UNAUTHENTICATED' },
      },
    ],
  });
  return new Response(body, {
    status: 401,
    headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' },
  });
}

/**
 * What a client sees of an error: a DomainError becomes its message with
 * `extensions.code` (and details); anything unexpected is logged and masked.
 */
export function maskErrorFor(services: Services) {
  return (error: unknown, message: string, isDev?: boolean): Error => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (original instanceof DomainError) {
      return new GraphQLError(original.message, {
        ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
        extensions: { code: original.code, ...original.details },
      });
    }
    if (!(original instanceof GraphQLError) && original !== undefined) {
      services.log.error({ err: original }, 'unexpected error in a GraphQL resolver');
    }
    return defaultMaskError(error, message, isDev);
  };
}

/**
 * The GraphQL server at /graphql: HTTP (GET/POST, multipart uploads), SSE (`Accept:
 * text/event-stream`) and — through `getEnveloped` in ws.ts — graphql-ws, all with the
 * same context, auth, validation and limits.
 */
export function createGraphQLServer(services: Services): Yoga {
  // The onRequest hook authenticates; the context reuses its answer instead of hashing the key again.
  const principals = new WeakMap<Request, Principal>();
  return createYoga<ServerContext, GraphQLContext>({
    schema: getSchema(),
    graphqlEndpoint: '/graphql',
    logging: false,
    landingPage: false,
    graphiql: {
      title: 'Tuneloop GraphiQL',
      defaultQuery: '# Set the header {"Authorization": "Bearer <apiKey>"} below, then run:\n{\n  fineTunableModels {\n    id\n    contextLength\n  }\n}\n',
      subscriptionsProtocol: 'WS',
    },
    multipart: true,
    // yoga holds a multipart file in memory until the resolver runs: cap it at the dataset
    // limit, so an oversized upload is refused while it streams in (413) instead of growing
    // the heap without bound. (REST uploads stream straight to disk.)
    fetchAPI: createFetch({ formDataLimits: { fileSize: services.datasets.maxBytes, files: 1, fieldSize: 1 << 20 } }),
    maskedErrors: { maskError: maskErrorFor(services) },
    plugins: [
      // Queries run compiled (graphql-jit): ≈ 4× less execution time for catalog-sized
      // results. Mutations and subscriptions keep graphql-js semantics (uploads, streams).
      useGraphQlJit({}, { enableIf: (args) => getOperationAST(args.document, args.operationName)?.operation === 'query' }),
      EnvelopArmorPlugin({
        maxDepth: { n: 12 },
        costLimit: { maxCost: 100_000 },
        maxAliases: { n: 30 },
        maxTokens: { n: 2000 },
        maxDirectives: { n: 20 },
        blockFieldSuggestion: { enabled: false },
      }),
      {
        // Every request needs a valid key, except fetching the GraphiQL page itself.
        async onRequest({ request, fetchAPI, endResponse, serverContext }) {
          if ((serverContext as ServerContext | undefined)?.principal) return;
          const url = new URL(request.url);
          const wantsHtml = request.method === 'GET' && (request.headers.get('accept') ?? '').includes('text/html');
          if (wantsHtml && !url.searchParams.has('query')) return;
          const principal = await services.accounts.authenticate(request.headers.get('authorization'));
          if (!principal) endResponse(unauthenticated() as unknown as InstanceType<typeof fetchAPI.Response>);
          else principals.set(request, principal);
        },
      },
    ],
    context: async ({ request, principal, signal }) => ({
      principal:
        principal ??
        (request ? (principals.get(request) ?? (await services.accounts.authenticate(request.headers.get('authorization')))) : null),
      services,
      signal: signal ?? request?.signal,
    }),
  });
}

/** What the fast path reads from a request (fastify's request, its JSON body already parsed). */
export interface PlainQueryRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/**
 * Runs the common request — an authenticated JSON POST of a query that validates and
 * executes without errors — straight through `yoga.getEnveloped`, the way graphql-ws does:
 * the same schema, context, auth, parse/validation caches, armor limits and error masking,
 * without building a WHATWG Request and Response around it. Returns the JSON body to send
 * with 200, or undefined when yoga must answer instead: any other method, media type or
 * Accept, a CORS request, a missing key, a mutation or subscription, or any error (yoga
 * then formats it, with its status codes; re-running a query has no side effects).
 *
 * Why: yoga's HTTP pipeline cost ≈ 200 µs of CPU per small query on our machines, ≈ 4×
 * this path; issue 2 wants GraphQL at ≥ 35 % of a bare node:http endpoint.
 */
export async function executePlainQuery(yoga: Yoga, services: Services, request: PlainQueryRequest): Promise<string | undefined> {
  const { headers, body } = request;
  if (request.method !== 'POST' || headers.origin !== undefined) return undefined;
  const type = headers['content-type'];
  if (typeof type !== 'string' || !(type === 'application/json' || type.startsWith('application/json;'))) return undefined;
  const accept = headers.accept;
  if (accept !== undefined && accept !== '*/*' && accept !== 'application/json') return undefined;
  if (typeof body !== 'object' || body === null) return undefined;
  const { query, variables, operationName, extensions } = body as Record<string, unknown>;
  if (typeof query !== 'string' || extensions !== undefined) return undefined;
  if (variables != null && (typeof variables !== 'object' || Array.isArray(variables))) return undefined;
  if (operationName != null && typeof operationName !== 'string') return undefined;
  const authorization = headers.authorization;
  const principal = await services.accounts.authenticate(typeof authorization === 'string' ? authorization : undefined);
  if (!principal) return undefined;

  const params = { query, variables: variables ?? undefined, operationName: operationName ?? undefined };
  const { schema, parse, validate, contextFactory, execute } = yoga.getEnveloped({ principal, params } as never);
  // Parse and validation errors (armor's depth, cost and alias limits throw from here) are
  // yoga's to answer, with its status codes.
  let document;
  try {
    document = parse(query);
    if (validate(schema, document).length > 0) return undefined;
  } catch {
    return undefined;
  }
  if (getOperationAST(document, params.operationName)?.operation !== 'query') return undefined;
  const result = (await execute({
    schema,
    document,
    contextValue: await contextFactory(),
    variableValues: params.variables as Record<string, unknown> | undefined,
    operationName: params.operationName,
  })) as ExecutionResult;
  if (result.errors?.length || (result as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator]) return undefined;
  return JSON.stringify(result);
}
