import { InvalidInputError } from '../errors.js';

/**
 * How a model's weights are served: float32 as trained (`NONE`), or block-quantized to
 * 8 or 4 bits (`INT8`, `INT4`; docs/inference.md § Quantization has the trade-off).
 */
export const QUANTIZATIONS = ['NONE', 'INT8', 'INT4'] as const;

export type Quantization = (typeof QUANTIZATIONS)[number];

/** A quantization from untrusted input, or UNSUPPORTED_QUANTIZATION naming the field. */
export function parseQuantization(value: unknown, field = 'quantization'): Quantization {
  if (typeof value === 'string' && (QUANTIZATIONS as readonly string[]).includes(value)) return value as Quantization;
  throw new InvalidInputError(
    field,
    `${field} must be one of ${QUANTIZATIONS.join(', ')}, got ${JSON.stringify(value)}`,
    'UNSUPPORTED_QUANTIZATION',
  );
}
