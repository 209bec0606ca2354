import { createSourceEventStream, execute, type GraphQLError } from 'graphql';
import type { ExecutionArgs, ExecutionResult } from 'graphql';

type Mask = (error: unknown, message: string) => Error;

/**
 * Runs graphql-ws subscriptions so that one event is executed once per audience, not once
 * per subscriber.
 *
 * A running job can have a thousand watchers (dashboards, CI scripts), and they all get
 * the same event object from the job's event hub (src/training/event-hub.ts). Executing
 * the subscription's selection set for each of them — through envelop and the executor,
 * a dozen promise hops per subscriber — cost ≈ 70 µs a delivery on our 2-core machines
 * (docs/PERFORMANCE.md, "Training events"). Here the source stream comes from graphql-js directly
 * (the field's `subscribe` resolver, with its auth scopes, runs per subscriber as usual)
 * and each event's result is memoised by (event object, share key). The share key is the
 * caller's account and the exact operation and variables, so nothing is ever shared
 * between accounts or between different selections. Errors are masked like yoga masks
 * them everywhere else.
 */
export function createSharedSubscribe(mask: Mask) {
  const results = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();

  const maskResult = (result: ExecutionResult): ExecutionResult =>
    result.errors?.length ? { ...result, errors: result.errors.map((e) => mask(e, 'Unexpected error.') as GraphQLError) } : result;

  const executeEvent = (args: ExecutionArgs, event: unknown): Promise<ExecutionResult> =>
    Promise.resolve(execute({ ...args, rootValue: event })).then(maskResult);

  return async function subscribe(args: ExecutionArgs, shareKey: string): Promise<AsyncGenerator<ExecutionResult> | ExecutionResult> {
    let source;
    try {
      source = await createSourceEventStream(args);
    } catch (err) {
      return { errors: [mask(err, 'Unexpected error.') as GraphQLError] };
    }
    if (!(Symbol.asyncIterator in source)) return maskResult(source);
    const events = source as AsyncGenerator<unknown>;
    return (async function* () {
      try {
        for await (const event of events) {
          if (event === null || typeof event !== 'object') {
            yield await executeEvent(args, event);
            continue;
          }
          let perEvent = results.get(event);
          if (!perEvent) results.set(event, (perEvent = new Map()));
          let result = perEvent.get(shareKey);
          if (!result) perEvent.set(shareKey, (result = executeEvent(args, event)));
          yield await result;
        }
      } finally {
        await events.return(undefined);
      }
    })();
  };
}
