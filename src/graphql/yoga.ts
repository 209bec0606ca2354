import { createYoga, maskError as defaultMaskError } from 'graphql-yoga';
import type { YogaServerInstance } from 'graphql-yoga';
import { GraphQLError } from 'graphql';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
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
 * The GraphQL server at /graphql: HTTP (GET/POST, multipart uploads), SSE (`Accept:
 * text/event-stream`) and — through `getEnveloped` in ws.ts — graphql-ws, all with the
 * same context, auth, validation and limits.
 */
export function createGraphQLServer(services: Services): Yoga {
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
    maskedErrors: {
      maskError(error, message, isDev) {
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
      },
    },
    plugins: [
      EnvelopArmorPlugin({
        maxDepth: { n: 12 },
        costLimit: { maxCost: 5000 },
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
        },
      },
    ],
    context: async ({ request, principal, signal }) => ({
      principal: principal ?? (request ? await services.accounts.authenticate(request.headers.get("authorization")) : null),
      services,
      signal: signal ?? request?.signal,
    }),
  });
}
