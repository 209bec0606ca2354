import { createYoga, maskError as defaultMaskError } from 'graphql-yoga';
import type { Plugin, YogaServerInstance } from 'graphql-yoga';
import { GraphQLError, Kind, getOperationAST } from 'graphql';
import type { DocumentNode, ExecutionResult } from 'graphql';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { createFetch } from '@whatwg-node/fetch';
import type { Principal } from '../accounts/service.js';
import type { Services } from '../services.js';
import { DomainError } from '../errors.js';
import { asExpectedError } from '../storage/disk-full.js';
import { getSchema } from './schema.js';
import { forgetContext } from './builder.js';
import type { GraphQLContext } from './builder.js';
import { createGraphiQLRenderer } from './graphiql.js';
import { useSharedSubscriptionResults } from './shared-subscriptions.js';
import { useStrictInput } from './strict-input.js';

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
 * What a client sees of an error: a DomainError (or a full disk, INSUFFICIENT_STORAGE)
 * becomes its message with `extensions.code` (and details); anything unexpected is logged
 * and masked.
 */
export function maskErrorFor(services: Services) {
  return (error: unknown, message: string, isDev?: boolean): Error => {
    // The error that started it: graphql-js wraps a scalar's refusal twice when it coerces
    // variables ("Variable $input got invalid value … at input.amount; Expected type USD. …").
    let original = error;
    while (original instanceof GraphQLError && original.originalError) original = original.originalError;
    const expected = asExpectedError(original);
    if (expected) {
      if (!(original instanceof DomainError)) services.log.error({ err: original }, 'the disk is full');
      return new GraphQLError(error instanceof GraphQLError ? error.message : expected.message, {
        ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
        extensions: { code: expected.code, ...expected.details },
      });
    }
    if (!(original instanceof GraphQLError) && original !== undefined) {
      services.log.error({ err: original }, 'unexpected error in a GraphQL resolver');
    }
    return defaultMaskError(error, message, isDev);
  };
}

/**
 * When an execution ends: drops scope-auth's per-request cache (forgetContext in
 * builder.ts; docs/PERFORMANCE.md, "Why the code is shaped so"), and gives the
 * errors of a request that never started executing — variables that do not coerce to
 * their types, a required one missing — the code BAD_USER_INPUT (graphql-js leaves them
 * without a code; every other refusal has one). One object for every request: tsx's
 * keepNames would name a closure made per request (docs/CONVENTIONS.md, "Hot paths").
 */
const WHEN_EXECUTED = {
  onExecuteDone({
    args,
    result,
    setResult,
  }: {
    args: { contextValue: unknown };
    result: ExecutionResult | AsyncIterable<unknown>;
    setResult: (r: ExecutionResult) => void;
  }): void {
    forgetContext(args.contextValue as object);
    if ('errors' in result && result.errors && !('data' in result)) setResult({ ...result, errors: result.errors.map(withInputCode) });
  },
};

function withInputCode(error: GraphQLError): GraphQLError {
  if (error.extensions?.code) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, code: 'BAD_USER_INPUT' },
  });
}

function singleOperation(document: DocumentNode): boolean {
  let operations = 0;
  for (const definition of document.definitions) if (definition.kind === Kind.OPERATION_DEFINITION) operations++;
  return operations === 1;
}

export interface GraphQLServerOptions {
  /**
   * More envelop/yoga plugins (tracing, metrics…). Every operation — queries, mutations and
   * subscriptions over HTTP GET/POST, SSE and graphql-ws — runs through them
   * (test/foundation/graphql-plugins.test.ts).
   */
  plugins?: Plugin<GraphQLContext>[];
}

/**
 * The GraphQL server at /graphql: HTTP (GET/POST, multipart uploads), SSE (`Accept:
 * text/event-stream`) and — through `getEnveloped` in ws.ts — graphql-ws, all with the
 * same context, auth, validation, limits and plugins: this is the only way operations run.
 */
export function createGraphQLServer(services: Services, opts: GraphQLServerOptions = {}): Yoga {
  // The onRequest hook authenticates; the context reuses its answer instead of hashing the key again.
  const principals = new WeakMap<Request, Principal>();
  return createYoga<ServerContext, GraphQLContext>({
    schema: getSchema(),
    graphqlEndpoint: '/graphql',
    logging: false,
    landingPage: false,
    graphiql: {
      title: 'Tuneloop GraphiQL',
      defaultQuery:
        '# From the console the Authorization header is set below;\n# otherwise set {"Authorization": "Bearer <apiKey>"}, then run:\n{\n  account {\n    id\n    available\n  }\n  fineTunableModels {\n    id\n    contextLength\n  }\n}\n',
      subscriptionsProtocol: 'WS',
    },
    // Local assets (no CDN), and the console's key as the first header.
    renderGraphiQL: createGraphiQLRenderer(),
    multipart: true,
    // yoga holds a multipart file in memory until the resolver runs: cap it at the dataset
    // limit, so an oversized upload is refused while it streams in (413) instead of growing
    // the heap without bound. (REST uploads stream straight to disk.)
    fetchAPI: createFetch({ formDataLimits: { fileSize: services.datasets.maxBytes, files: 1, fieldSize: 1 << 20 } }),
    maskedErrors: { maskError: maskErrorFor(services) },
    plugins: [
      // Strings PostgreSQL cannot store, and Files that are not uploads, stop the operation.
      useStrictInput(),
      // Queries run compiled (graphql-jit): less execution time for catalog-sized results
      // (docs/PERFORMANCE.md, "Why the code is shaped so"). Mutations and subscriptions keep graphql-js semantics (uploads, streams).
      //
      // Only for documents of one operation: the plugin caches a compiled query by document,
      // whatever the operation name, so `query A {…} query B {…}` run as B after A would
      // answer A (test/foundation/graphql-http.test.ts).
      useGraphQlJit(
        {},
        { enableIf: (args) => singleOperation(args.document) && getOperationAST(args.document, args.operationName)?.operation === 'query' },
      ),
      EnvelopArmorPlugin({
        maxDepth: { n: 12 },
        costLimit: { maxCost: 100_000 },
        maxAliases: { n: 30 },
        maxTokens: { n: 2000 },
        maxDirectives: { n: 20 },
        blockFieldSuggestion: { enabled: false },
      }),
      {
        // Every request needs a valid key, except fetching the GraphiQL page itself. A cached
        // key (nearly every request) is answered without a promise.
        onRequest({ request, fetchAPI, endResponse, serverContext }) {
          if ((serverContext as ServerContext | undefined)?.principal) return;
          if (request.method === 'GET' && (request.headers.get('accept') ?? '').includes('text/html')) {
            if (!new URL(request.url).searchParams.has('query')) return;
          }
          const authorization = request.headers.get('authorization');
          const cached = services.accounts.cachedPrincipal(authorization);
          if (cached) {
            principals.set(request, cached);
            return;
          }
          if (cached === null) return endResponse(unauthenticated() as unknown as InstanceType<typeof fetchAPI.Response>);
          return services.accounts.authenticate(authorization).then((principal) => {
            if (principal) principals.set(request, principal);
            else endResponse(unauthenticated() as unknown as InstanceType<typeof fetchAPI.Response>);
          });
        },
        onExecute() {
          return WHEN_EXECUTED;
        },
      },
      // After graphql-jit: subscriptions get this plugin's subscribe function.
      useSharedSubscriptionResults(),
      ...(opts.plugins ?? []),
    ],
    context: ({ request, principal, signal }) => {
      let known = principal;
      if (!known && request) {
        // Taken out, not just read: a WeakMap entry per request would be promoted by the
        // young-generation GC (see forgetContext in builder.ts).
        known = principals.get(request);
        principals.delete(request);
      }
      const ofRequest = signal ?? request?.signal;
      if (known || !request) return { principal: known ?? null, services, signal: ofRequest };
      return services.accounts
        .authenticate(request.headers.get('authorization'))
        .then((found) => ({ principal: found, services, signal: ofRequest }));
    },
  });
}
