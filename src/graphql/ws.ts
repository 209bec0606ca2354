import type http from 'node:http';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { GraphQLError } from 'graphql';
import type { DocumentNode, ExecutionArgs } from 'graphql';
import type { Services } from '../services.js';
import type { Principal } from '../accounts/service.js';
import type { Yoga } from './yoga.js';

/** Close code for a rejected `connection_init` (graphql-ws reserves 4400–4499 for the protocol; 4401 mirrors HTTP 401). */
export const WS_UNAUTHORIZED = 4401;

export interface GraphQLWsServer {
  close(): Promise<void>;
}

type Enveloped = ReturnType<Yoga['getEnveloped']>;

/**
 * graphql-ws on the HTTP server's port and path. Each operation goes through
 * `yoga.getEnveloped`, as in yoga's graphql-ws example, so a socket gets the same schema,
 * context, auth, validation, limits and envelop plugins as an HTTP request: parse and
 * validate here, execute and subscribe with the same enveloped functions. The key comes in
 * `connectionParams.authorization`.
 */
export function attachGraphQLWs(server: http.Server, yoga: Yoga, services: Services): GraphQLWsServer {
  const wss = new WebSocketServer({ server, path: '/graphql' });
  const principals = new WeakMap<object, Principal>();
  const aborts = new WeakMap<object, AbortController>();
  // Each operation's enveloped functions, found again from the context value graphql-ws
  // hands back to execute/subscribe (a fresh object per operation).
  const operations = new WeakMap<object, Enveloped>();
  const envelopedOf = (args: ExecutionArgs): Enveloped => {
    const enveloped = operations.get(args.contextValue as object);
    if (!enveloped) throw new Error('graphql-ws operation without an enveloped context');
    return enveloped;
  };

  const disposable = useServer(
    {
      connectionInitWaitTimeout: 10_000,
      onConnect: async (ctx) => {
        const raw = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const principal = await services.accounts.authenticate(typeof raw === 'string' ? raw : undefined);
        if (!principal) {
          ctx.extra.socket.close(WS_UNAUTHORIZED, 'Unauthorized');
          return false;
        }
        principals.set(ctx, principal);
        const abort = new AbortController();
        aborts.set(ctx, abort);
        ctx.extra.socket.once('close', () => abort.abort());
        return true;
      },
      onSubscribe: async (ctx, _id, params) => {
        const enveloped = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          principal: principals.get(ctx) ?? null,
          signal: aborts.get(ctx)?.signal,
        });
        // Syntax errors and armor's limits (depth, cost, aliases) are thrown from parse and
        // validate: returned, they reach the client as an `error` message for this
        // operation; thrown, graphql-ws would close the whole socket with 4500.
        let document: DocumentNode;
        try {
          document = enveloped.parse(params.query);
          const errors = enveloped.validate(enveloped.schema, document);
          if (errors.length) return errors;
        } catch (err) {
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        const contextValue = await enveloped.contextFactory();
        operations.set(contextValue, enveloped);
        return {
          schema: enveloped.schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue,
        };
      },
      execute: (args) => envelopedOf(args).execute(args),
      subscribe: (args) => envelopedOf(args).subscribe(args),
    },
    wss,
  );

  return {
    async close() {
      await disposable.dispose();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
