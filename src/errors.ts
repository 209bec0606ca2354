/**
 * Expected failures. Every one carries a stable machine-readable `code` (the same in
 * GraphQL `extensions.code` / typed errors and in REST problem+json) and the HTTP status
 * REST answers with. Anything that is not a DomainError is a bug: it is logged and the
 * client sees a masked "internal error", never a stack trace.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number = 400,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** The object does not exist — or belongs to another account, which must look the same. */
export class NotFoundError extends DomainError {
  constructor(kind: string, id: string) {
    super('NOT_FOUND', `${kind} ${JSON.stringify(id)} was not found`, 404, { kind, id });
  }
}

/** Input that fails validation; `field` names the offending input path. */
export class InvalidInputError extends DomainError {
  constructor(
    readonly field: string,
    message: string,
    code = 'INVALID_INPUT',
  ) {
    super(code, message, 400, { field });
  }
}

export class UnauthenticatedError extends DomainError {
  constructor(message = 'missing or invalid API key: send "Authorization: Bearer <apiKey>"') {
    super('UNAUTHENTICATED', message, 401);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = 'this operation needs an admin API key') {
    super('FORBIDDEN', message, 403);
  }
}

export class InsufficientBalanceError extends DomainError {
  constructor(
    readonly requiredMicros: bigint,
    readonly availableMicros: bigint,
  ) {
    super('INSUFFICIENT_BALANCE', `this needs ${formatUsd(requiredMicros)} but only ${formatUsd(availableMicros)} is available`, 402, {
      required: formatUsd(requiredMicros),
      available: formatUsd(availableMicros),
    });
  }
}

export class NotImplementedError extends DomainError {
  constructor(what: string) {
    super('NOT_IMPLEMENTED', `${what} is not available in this version yet`, 501);
  }
}

/** Micro-USD (bigint) as a decimal USD string with 6 places, e.g. 1500000n → "1.500000". */
export function formatUsd(micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const whole = abs / 1_000_000n;
  const frac = (abs % 1_000_000n).toString().padStart(6, '0');
  return `${negative ? '-' : ''}${whole}.${frac}`;
}

/** A USD amount (number or decimal string) as micro-USD; throws InvalidInputError on junk. */
export function parseUsd(value: string | number, field = 'amount'): bigint {
  const text = typeof value === 'number' ? value.toFixed(6) : value.trim();
  const match = /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(text);
  if (!match) throw new InvalidInputError(field, `${field} must be a USD amount with at most 6 decimals, got ${JSON.stringify(value)}`);
  const micros = BigInt(match[2]!) * 1_000_000n + BigInt((match[3] ?? '').padEnd(6, '0'));
  return match[1] ? -micros : micros;
}
