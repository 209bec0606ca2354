import { Type } from 'typebox';
import { QUANTIZATIONS } from '../catalog/quantization.js';

/** Shared REST schemas (serialization and OpenAPI come from these). */
export const Usd = Type.String({ description: 'US dollars, decimal string with 6 places', examples: ['12.500000'] });
export const DateTime = Type.String({ format: 'date-time' });
export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Machine-readable error code, the same as GraphQL extensions.code' }),
  },
  { additionalProperties: true, $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' },
);

/** Error responses every authenticated route can give. */
export const problemResponses = {
  400: Type.Ref('Problem'),
  401: Type.Ref('Problem'),
  404: Type.Ref('Problem'),
} as const;

/** A quantization in a response (src/catalog/quantization.ts). */
export const QuantizationSchema = Type.Union(
  QUANTIZATIONS.map((q) => Type.Literal(q)),
  { description: 'NONE (float32 weights), INT8 or INT4 (block-quantized weights)' },
);

/**
 * A quantization in a request: a plain string, checked by the domain, so a wrong value
 * gets UNSUPPORTED_QUANTIZATION with the allowed values rather than a schema message.
 */
export const QuantizationInput = Type.String({ description: 'NONE, INT8 or INT4', examples: ['INT4'] });
