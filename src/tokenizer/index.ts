/** One tokenizer and chat-template loader for training data and inference (see model-tokenizer.ts). */
export { ModelTokenizer, loadTrainingTokenizer, RENDER_VERSION } from './model-tokenizer.js';
export type { PromptInput, RenderedExample } from './model-tokenizer.js';
export type { RenderedText } from './chat-renderer.js';
export type { ChatExample, ChatMessage, CompletionExample, Example } from './example.js';
export type { StreamDecoder } from './stream-decoder.js';
export { TokenizerError, isTokenizerError } from './tokenizer-error.js';
export type { TokenizerErrorCode } from './tokenizer-error.js';
