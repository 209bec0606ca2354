/**
 * Why a model's tokenizer or chat template cannot do what was asked. The codes are the
 * ones dataset validation reports (docs/datasets.md); inference turns the per-request
 * ones (`template_mismatch`, `no_chat_template`) into input errors.
 */
export type TokenizerErrorCode =
  /** tokenizer.json / tokenizer_config.json missing or unreadable, or a template that does not parse or render. */
  | 'tokenizer_invalid'
  /** A tokenizer or template of a kind whose loss mask cannot be placed exactly (training only). */
  | 'tokenizer_unsupported'
  /** The template refused these messages, or rendered them so that the mask cannot be derived. */
  | 'template_mismatch'
  /** Chat messages for a model without a chat template. */
  | 'no_chat_template';

/** An expected tokenizer failure with a machine-readable `code` and a message for a person. */
export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';

  constructor(
    readonly code: TokenizerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** True for a `TokenizerError`, also across worker/realm boundaries where `instanceof` fails. */
export function isTokenizerError(error: unknown): error is TokenizerError {
  return error instanceof TokenizerError || (error instanceof Error && error.name === 'TokenizerError' && 'code' in error);
}
