import { DomainError, InvalidInputError } from '../errors.js';

/** The model exists (and is visible) but this account has no live deployment of it. */
export class ModelNotDeployedError extends DomainError {
  constructor(modelId: string, reason?: string) {
    super(
      'MODEL_NOT_DEPLOYED',
      `model "${modelId}" is not deployed${reason ? ` (${reason})` : ''}: deploy it first (POST /api/deployments or the deployModel mutation)`,
      404,
      { modelId },
    );
  }
}

/** Expected failures that say when to come back (REST sends Retry-After). */
export class RetryLaterError extends DomainError {
  constructor(
    code: string,
    message: string,
    status: number,
    readonly retryAfterSeconds: number,
  ) {
    super(code, message, status, { retryAfterSeconds });
  }
}

/** The deployment's runtime is still loading in this process. */
export class ModelLoadingError extends RetryLaterError {
  constructor(modelId: string, retryAfterSeconds = 2) {
    super('MODEL_LOADING', `model "${modelId}" is still loading; retry shortly`, 503, retryAfterSeconds);
  }
}

/** Every batch slot and queue place of the model is taken. */
export class QueueFullError extends RetryLaterError {
  constructor(modelId: string, retryAfterSeconds: number) {
    super(
      'QUEUE_FULL',
      `model "${modelId}" is serving as many requests as it can queue; retry after ${retryAfterSeconds} s`,
      429,
      retryAfterSeconds,
    );
  }
}

/** The prompt (plus the requested completion) does not fit the model's context. */
export class ContextLengthError extends InvalidInputError {
  constructor(field: string, contextLength: number, promptTokens: number, maxTokens?: number) {
    super(
      field,
      maxTokens === undefined
        ? `this model's maximum context length is ${contextLength} tokens, but the prompt has ${promptTokens} tokens (at least one must be left for the completion)`
        : `this model's maximum context length is ${contextLength} tokens, but ${promptTokens + maxTokens} were requested (${promptTokens} in the prompt, ${maxTokens} for the completion); reduce the prompt or max_tokens`,
      'CONTEXT_LENGTH_EXCEEDED',
    );
  }
}

/** The runtime failed while generating (the request is not charged). */
export class GenerationFailedError extends DomainError {
  constructor(detail: string) {
    super('GENERATION_FAILED', `generation failed: ${detail}`, 500);
  }
}

/** A model called without a deployment could not be loaded (its export failed, say). */
export class ModelLoadFailedError extends DomainError {
  constructor(modelId: string, reason: string) {
    super('MODEL_LOAD_FAILED', `model "${modelId}" could not be loaded: ${reason}`, 500, { modelId });
  }
}
