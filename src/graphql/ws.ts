import type http from 'node:http';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { GraphQLError } from 'graphql';
import type { DocumentNode, ExecutionArgs } from 'graphql';
import type { Services } from '../services.js';
import type { Principal } from '../accounts/service.js';
import type { Yoga } from './yoga.js';
import { maskErrorFor } from './yoga.js';
import { createSharedSubscribe } from './shared-subscriptions.js';

/** Close code for a rejected `connection_init` (graphql-ws reserves 4400–4499 for the protocol; 4401 mirrors HTTP 401). */
export const WS_UNAUTHORIZED = 4401;

export interface GraphQLWsServer {
  close(): Promise<void>;
}

/**
 * graphql-ws on the HTTP server's port and path. Each operation goes through
 * `yoga.getEnveloped`, so a socket gets the same schema, context, auth, validation and
 * limits as an HTTP request. The key comes in `connectionParams.authorization`.
 */
export function attachGraphQLWs(server: http.Server, yoga: Yoga, services: Services): GraphQLWsServer {
  const wss = new WebSocketServer({ server, path: '/graphql' });
  const principals = new WeakMap<object, Principal>();
  const sharedSubscribe = createSharedSubscribe(maskErrorFor(services));
  const aborts = new WeakMap<object, AbortController>();

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
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
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
          document = parse(params.query);
          const errors = validate(schema, document);
          if (errors.length) return errors;
        } catch (err) {
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        const principal = principals.get(ctx);
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          // Carried to execute/subscribe below; the operation itself gets no root value.
          rootValue: {
            execute,
            subscribe,
            shareKey: `${principal?.accountId ?? ''}\u0000${params.operationName ?? ''}\u0000${params.query}\u0000${JSON.stringify(params.variables ?? {})}`,
          },
        } as ExecutionArgs & { rootValue: { execute: typeof execute; subscribe: typeof subscribe; shareKey: string } };
      },
      execute: (args) => (args.rootValue as { execute: (a: unknown) => unknown }).execute(args) as never,
      subscribe: (args) => {
        const { shareKey } = args.rootValue as { shareKey: string };
        return sharedSubscribe({ ...args, rootValue: undefined }, shareKey) as never;
      },
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
