import { builder } from './builder.js';
import { DomainError, InsufficientBalanceError, InvalidInputError, NotFoundError } from '../errors.js';

/**
 * graphql-js treats any resolved value that is `instanceof Error` as a thrown error, so an
 * error listed in a payload's `errors` goes out as a proxy that hides its prototype chain;
 * type resolution looks through it at the original.
 */
const listedErrors = new WeakMap<object, DomainError>();

function listedError(error: DomainError): DomainError {
  const value = new Proxy(error, { getPrototypeOf: () => Object.prototype });
  listedErrors.set(value, error);
  return value;
}

const original = (value: unknown): unknown => (typeof value === 'object' && value !== null ? (listedErrors.get(value) ?? value) : value);

/**
 * Expected failures as typed objects. Payloads list them under `errors: [Error!]!`;
 * clients select `code` and `message` on the interface and the extra fields of a specific
 * type with a fragment.
 */
export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  description: 'An expected failure with a stable machine-readable code.',
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.exposeString('code', {
      description:
        'Stable code, e.g. NOT_FOUND, INVALID_INPUT, INVALID_HYPERPARAMETERS, MODEL_NOT_FINE_TUNABLE, DATASET_NOT_READY, INSUFFICIENT_BALANCE, JOB_ALREADY_FINISHED, IDEMPOTENCY_KEY_REUSED.',
    }),
  }),
  resolveType: (value) => {
    const error = original(value);
    if (error instanceof NotFoundError) return 'NotFoundError';
    if (error instanceof InvalidInputError) return 'InvalidInputError';
    if (error instanceof InsufficientBalanceError) return 'InsufficientBalanceError';
    return 'BaseError';
  },
});

builder.objectType(DomainError, {
  name: 'BaseError',
  description: 'An expected failure; `code` says which.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => {
    const error = original(value);
    return (
      error instanceof DomainError &&
      !(error instanceof NotFoundError || error instanceof InvalidInputError || error instanceof InsufficientBalanceError)
    );
  },
  fields: () => ({}),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'The object does not exist or is not yours.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => original(value) instanceof NotFoundError,
  fields: () => ({}),
});

builder.objectType(InvalidInputError, {
  name: 'InvalidInputError',
  description: 'An input value is out of range or malformed; `field` names it.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => original(value) instanceof InvalidInputError,
  fields: (t) => ({ field: t.exposeString('field') }),
});

builder.objectType(InsufficientBalanceError, {
  name: 'InsufficientBalanceError',
  description: 'The available balance does not cover the cost.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => original(value) instanceof InsufficientBalanceError,
  fields: (t) => ({
    required: t.field({ type: 'USD', resolve: (e) => e.requiredMicros }),
    available: t.field({ type: 'USD', resolve: (e) => e.availableMicros }),
  }),
});

/**
 * Runs a mutation body and turns an expected failure into `{ errors: [error] }`, so a
 * payload carries either its object or typed errors. Unexpected exceptions propagate and
 * are masked by yoga.
 */
export async function payload<T extends object>(body: () => Promise<T>): Promise<Partial<T> & { errors: DomainError[] }> {
  try {
    return { ...(await body()), errors: [] };
  } catch (err) {
    if (err instanceof DomainError) return { errors: [listedError(err)] } as Partial<T> & { errors: DomainError[] };
    throw err;
  }
}
