export { validateDataset } from './validate-dataset.js';
export type { ValidateOptions } from './validate-dataset.js';
export { VALIDATION_ERROR_CODES, VALIDATION_WARNING_CODES, DEFAULT_VALIDATION_LIMITS, REPORTED_ISSUES_CAP } from './validation-report.js';
export type * from './validation-report.js';
export type { ChatExample, ChatMessage, CompletionExample, Example } from './check-example.js';
