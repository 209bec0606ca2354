import { builder } from './builder.js';
import { asExpectedError } from '../storage/disk-full.js';
import { type DomainError, InsufficientBalanceError, InvalidInputError, NotFoundError } from '../errors.js';

/**
 * An expected failure as a payload lists it: a plain object holding the DomainError.
 *
 * Not the error itself: graphql-js treats any value that is `instanceof Error` as a thrown
 * error, so a payload's `errors` list carries this view, and the GraphQL error types read
 * their fields from `error`. (Pothos' errors plugin solves the same problem for union
 * results — `startFineTune: StartFineTuneResult = Payload | NotFoundError | …` — a shape
 * the public contract does not have: payloads carry their object and an `errors` list.)
 */
export interface ListedError<E extends DomainError = DomainError> {
  readonly error: E;
}

/**
 * Expected failures as typed objects. Payloads list them under `errors: [Error!]!`;
 * clients select `code` and `message` on the interface and the extra fields of a specific
 * type with a fragment.
 */
export const ErrorInterface = builder.interfaceRef<ListedError>('Error').implement({
  description: 'An expected failure with a stable machine-readable code.',
  fields: (t) => ({
    message: t.string({ resolve: (e) => e.error.message }),
    code: t.string({
      description:
        'Stable code, e.g. NOT_FOUND, INVALID_INPUT, INVALID_HYPERPARAMETERS, MODEL_NOT_FINE_TUNABLE, DATASET_NOT_READY, INSUFFICIENT_BALANCE, JOB_ALREADY_FINISHED, IDEMPOTENCY_KEY_REUSED.',
      resolve: (e) => e.error.code,
    }),
  }),
  resolveType: ({ error }) => {
    if (error instanceof NotFoundError) return 'NotFoundError';
    if (error instanceof InvalidInputError) return 'InvalidInputError';
    if (error instanceof InsufficientBalanceError) return 'InsufficientBalanceError';
    return 'BaseError';
  },
});

builder.objectRef<ListedError>('BaseError').implement({
  description: 'An expected failure; `code` says which.',
  interfaces: [ErrorInterface],
  fields: () => ({}),
});

builder.objectRef<ListedError<NotFoundError>>('NotFoundError').implement({
  description: 'The object does not exist or is not yours.',
  interfaces: [ErrorInterface],
  fields: () => ({}),
});

builder.objectRef<ListedError<InvalidInputError>>('InvalidInputError').implement({
  description: 'An input value is out of range or malformed; `field` names it.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ field: t.string({ resolve: (e) => e.error.field }) }),
});

builder.objectRef<ListedError<InsufficientBalanceError>>('InsufficientBalanceError').implement({
  description: 'The available balance does not cover the cost.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    required: t.field({ type: 'USD', resolve: (e) => e.error.requiredMicros }),
    available: t.field({ type: 'USD', resolve: (e) => e.error.availableMicros }),
  }),
});

/**
 * Runs a mutation body and turns an expected failure (a DomainError, or a write that found
 * the disk full: INSUFFICIENT_STORAGE) into `{ errors: [error] }`, so a payload carries
 * either its object or typed errors. Unexpected exceptions propagate and are masked by yoga.
 */
export async function payload<T extends object>(body: () => Promise<T>): Promise<Partial<T> & { errors: ListedError[] }> {
  try {
    return { ...(await body()), errors: [] };
  } catch (err) {
    const expected = asExpectedError(err);
    if (expected) return { errors: [{ error: expected }] } as Partial<T> & { errors: ListedError[] };
    throw err;
  }
}
