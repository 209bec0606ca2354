import { createSourceEventStream, execute } from 'graphql';
import type { DocumentNode, ExecutionArgs, ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from './builder.js';

/**
 * An envelop plugin that runs each subscription event's selection set once per audience,
 * not once per subscriber, on every transport (SSE and graphql-ws alike).
 *
 * A running job can have a thousand watchers (dashboards, CI scripts), and they all get
 * the same event object from the job's event hub (src/training/event-hub.ts). Executing
 * the selection set for each of them was most of a delivery's cost (docs/PERFORMANCE.md,
 * "Training events"). This plugin replaces the subscribe function: the source
 * stream is still made per subscriber (the field's `subscribe` resolver, with its auth
 * scopes, runs for each), and each event's result is memoised by (event object, audience).
 * The audience is the caller's account and admin flag and the exact document, operation
 * and variables, so nothing is shared between accounts or between different selections.
 *
 * Everything else stays envelop's: plugins' onSubscribe hooks ran before this function is
 * called, and their onSubscribeResult hooks (yoga's error masking among them) see every
 * result, per subscriber. Events that are not objects, or streams whose events are fresh
 * objects per subscriber (generation streams), simply never find a shared result.
 */
export function useSharedSubscriptionResults(): Plugin<GraphQLContext> {
  const results = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();
  // yoga's parser cache hands out one DocumentNode per query text: its identity stands for the text.
  const documentIds = new WeakMap<DocumentNode, number>();
  let documents = 0;

  function audienceOf(args: ExecutionArgs, context: GraphQLContext): string | undefined {
    const principal = context.principal;
    if (!principal) return undefined;
    let documentId = documentIds.get(args.document);
    if (documentId === undefined) documentIds.set(args.document, (documentId = ++documents));
    return `${principal.accountId}\u0000${principal.isAdmin}\u0000${documentId}\u0000${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? {})}`;
  }

  async function subscribeShared(args: ExecutionArgs, audience: string): Promise<AsyncGenerator<ExecutionResult> | ExecutionResult> {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source;
    const events = source as AsyncGenerator<unknown>;
    return (async function* () {
      try {
        for await (const event of events) {
          if (event === null || typeof event !== 'object') {
            yield await execute({ ...args, rootValue: event });
            continue;
          }
          let perEvent = results.get(event);
          if (!perEvent) results.set(event, (perEvent = new Map()));
          let result = perEvent.get(audience);
          if (!result) perEvent.set(audience, (result = Promise.resolve(execute({ ...args, rootValue: event }))));
          yield await result;
        }
      } finally {
        await events.return(undefined);
      }
    })();
  }

  return {
    onSubscribe({ args, setSubscribeFn }) {
      const audience = audienceOf(args, args.contextValue);
      if (audience !== undefined) setSubscribeFn((subscribeArgs) => subscribeShared(subscribeArgs, audience));
    },
  };
}
