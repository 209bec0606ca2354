import type { DatasetFormat, MessagesPerRole, ValidationErrorCode } from './validation-report.js';

export type { ChatExample, ChatMessage, CompletionExample, Example } from '../../tokenizer/example.js';

/** A finding on one line, before the line number is attached. */
export interface LineIssue {
  code: ValidationErrorCode;
  field: string | null;
  message: string;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
const CHAT_KEYS = new Set(['messages', 'tools']);
const COMPLETION_KEYS = new Set(['prompt', 'completion']);
const MESSAGE_KEYS = new Set(['role', 'content', 'weight', 'name', 'tool_calls', 'tool_call_id']);

/** The format a parsed line looks like, or null when it has neither shape's key. */
export function shapeOf(value: unknown): DatasetFormat | null {
  if (!isPlainObject(value)) return null;
  if ('messages' in value) return 'chat';
  if ('prompt' in value || 'completion' in value) return 'completion';
  return null;
}

/**
 * Checks one parsed line against the file's format and appends what is wrong to
 * `issues`. Returns true when the line is a valid example (then `roles`, when
 * given, has its messages counted). All problems of a line are reported, not only
 * the first, except that a line of the other format gets `mixed_formats` alone.
 */
export function checkExample(
  value: unknown,
  format: DatasetFormat,
  formatLine: number | null,
  issues: LineIssue[],
  roles?: MessagesPerRole,
): boolean {
  const before = issues.length;
  if (!isPlainObject(value)) {
    issues.push({ code: 'not_an_object', field: null, message: `expected a JSON object, got ${describe(value)}` });
    return false;
  }
  const shape = shapeOf(value);
  if (shape !== null && shape !== format) {
    const where = formatLine === null ? '' : ` (detected on line ${formatLine})`;
    issues.push({
      code: 'mixed_formats',
      field: null,
      message: `this is a ${shape} example but the file is in ${format} format${where}; one file holds one format`,
    });
    return false;
  }
  if (format === 'chat') checkChat(value, issues, roles);
  else checkCompletion(value, issues);
  return issues.length === before;
}

function checkChat(value: Record<string, unknown>, issues: LineIssue[], roles?: MessagesPerRole): void {
  for (const key of Object.keys(value)) {
    if (!CHAT_KEYS.has(key)) issues.push(unrecognized(key, key, 'a chat example has only "messages" and "tools"'));
  }
  if ('tools' in value && !Array.isArray(value.tools)) {
    issues.push({ code: 'invalid_value', field: 'tools', message: `expected "tools" to be an array, got ${describe(value.tools)}` });
  }
  const messages = value.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    const got = messages === undefined ? 'it is missing' : `got ${describe(messages)}`;
    issues.push({
      code: 'missing_messages',
      field: 'messages',
      message: `expected "messages": a non-empty array of {"role", "content"}; ${got}`,
    });
    return;
  }
  const start = issues.length;
  let assistants = 0;
  let weighted = 0;
  const counts: MessagesPerRole = { system: 0, user: 0, assistant: 0, tool: 0 };
  messages.forEach((message: unknown, i) => {
    const at = `messages[${i}]`;
    if (!isPlainObject(message)) {
      issues.push({ code: 'not_an_object', field: at, message: `expected a message object {"role", "content"}, got ${describe(message)}` });
      return;
    }
    for (const key of Object.keys(message)) {
      if (!MESSAGE_KEYS.has(key))
        issues.push(
          unrecognized(
            `${at}.${key}`,
            key,
            'a message has "role", "content" and optionally "weight", "name", "tool_calls", "tool_call_id"',
          ),
        );
    }
    const role = message.role;
    if (typeof role !== 'string' || !ROLES.has(role)) {
      const got = role === undefined ? 'it is missing' : `got ${describe(role)}`;
      issues.push({
        code: 'unrecognized_role',
        field: `${at}.role`,
        message: `expected "role" to be one of "system", "user", "assistant", "tool"; ${got}`,
      });
    } else {
      counts[role as keyof MessagesPerRole]++;
    }
    const hasToolCalls = Array.isArray(message.tool_calls) && message.tool_calls.length > 0;
    const content = message.content;
    if (typeof content !== 'string' && !(role === 'assistant' && hasToolCalls && (content === null || content === undefined))) {
      const got = content === undefined ? 'it is missing' : `got ${describe(content)}`;
      issues.push({ code: 'missing_content', field: `${at}.content`, message: `expected "content" to be a string; ${got}` });
    }
    if ('weight' in message) {
      if (message.weight !== 0 && message.weight !== 1) {
        issues.push({
          code: 'invalid_value',
          field: `${at}.weight`,
          message: `expected "weight" to be 0 or 1, got ${describe(message.weight)}`,
        });
      } else if (role !== 'assistant') {
        issues.push({ code: 'invalid_value', field: `${at}.weight`, message: 'only assistant messages take a "weight"' });
      }
    }
    if ('name' in message && typeof message.name !== 'string') {
      issues.push({ code: 'invalid_value', field: `${at}.name`, message: `expected "name" to be a string, got ${describe(message.name)}` });
    }
    if ('tool_calls' in message && (!Array.isArray(message.tool_calls) || role !== 'assistant')) {
      issues.push({
        code: 'invalid_value',
        field: `${at}.tool_calls`,
        message: 'expected "tool_calls" to be an array, on an assistant message',
      });
    }
    if ('tool_call_id' in message && typeof message.tool_call_id !== 'string') {
      issues.push({
        code: 'invalid_value',
        field: `${at}.tool_call_id`,
        message: `expected "tool_call_id" to be a string, got ${describe(message.tool_call_id)}`,
      });
    }
    if (role === 'assistant') {
      assistants++;
      if (message.weight !== 0) weighted++;
    }
  });
  if (assistants === 0) {
    issues.push({
      code: 'no_assistant_message',
      field: 'messages',
      message: 'expected at least one message with role "assistant": there is nothing to train on',
    });
  } else if (weighted === 0) {
    issues.push({
      code: 'no_assistant_message',
      field: 'messages',
      message: 'every assistant message has "weight": 0: there is nothing to train on',
    });
  }
  if (roles && issues.length === start) {
    roles.system += counts.system;
    roles.user += counts.user;
    roles.assistant += counts.assistant;
    roles.tool += counts.tool;
  }
}

function checkCompletion(value: Record<string, unknown>, issues: LineIssue[]): void {
  for (const key of Object.keys(value)) {
    if (!COMPLETION_KEYS.has(key)) issues.push(unrecognized(key, key, 'a completion example has only "prompt" and "completion"'));
  }
  if (typeof value.prompt !== 'string') {
    const got = value.prompt === undefined ? 'it is missing' : `got ${describe(value.prompt)}`;
    issues.push({ code: 'missing_content', field: 'prompt', message: `expected "prompt" to be a string; ${got}` });
  }
  const completion = value.completion;
  if (typeof completion !== 'string' || completion.trim() === '') {
    const got = completion === undefined ? 'it is missing' : typeof completion === 'string' ? 'it is blank' : `got ${describe(completion)}`;
    issues.push({ code: 'empty_completion', field: 'completion', message: `expected "completion" to be a non-empty string; ${got}` });
  }
}

function unrecognized(field: string, key: string, expected: string): LineIssue {
  return { code: 'unrecognized_key', field, message: `unrecognized key ${JSON.stringify(key)}: ${expected}` };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty array' : 'an array';
  if (typeof value === 'string')
    return value.length > 40 ? `the string ${JSON.stringify(value.slice(0, 40))}…` : `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
