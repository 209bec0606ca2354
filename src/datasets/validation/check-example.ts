import type { DatasetFormat, MessagesPerRole, ValidationErrorCode } from './validation-report.js';

import type { ChatExample, ChatMessage } from '../../tokenizer/example.js';

export type { ChatExample, ChatMessage, CompletionExample, Example } from '../../tokenizer/example.js';

/** A line of a preference dataset (OpenAI's, Together's and Fireworks' DPO format), once checked. */
export interface PreferenceExample {
  input: ChatExample;
  preferred_output: [ChatMessage];
  non_preferred_output: [ChatMessage];
}

/** A finding on one line, before the line number is attached. */
export interface LineIssue {
  code: ValidationErrorCode;
  field: string | null;
  message: string;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
const CHAT_KEYS = new Set(['messages', 'tools']);
const COMPLETION_KEYS = new Set(['prompt', 'completion']);
const PREFERENCE_KEYS = new Set(['input', 'preferred_output', 'non_preferred_output']);
const OUTPUT_MESSAGE_KEYS = new Set(['role', 'content']);
const MESSAGE_KEYS = new Set(['role', 'content', 'weight', 'name', 'tool_calls', 'tool_call_id']);

/** The format a parsed line looks like, or null when it has neither shape's key. */
export function shapeOf(value: unknown): DatasetFormat | null {
  if (!isPlainObject(value)) return null;
  if ('messages' in value) return 'chat';
  if ('input' in value || 'preferred_output' in value || 'non_preferred_output' in value) return 'preference';
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
  else if (format === 'preference') checkPreference(value, issues, roles);
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
  const counts: MessagesPerRole = { system: 0, user: 0, assistant: 0, tool: 0 };
  const { assistants, weighted } = checkMessages(messages, 'messages', issues, counts);
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
  if (roles && issues.length === start) addRoles(roles, counts);
}

/**
 * Checks chat messages (of a chat example, or a preference example's prompt) and counts
 * their roles into `counts`; `path` prefixes the fields named (`messages`, `input.messages`).
 */
function checkMessages(
  messages: unknown[],
  path: string,
  issues: LineIssue[],
  counts: MessagesPerRole,
): { assistants: number; weighted: number } {
  let assistants = 0;
  let weighted = 0;
  messages.forEach((message: unknown, i) => {
    const at = `${path}[${i}]`;
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
  return { assistants, weighted };
}

function checkPreference(value: Record<string, unknown>, issues: LineIssue[], roles?: MessagesPerRole): void {
  for (const key of Object.keys(value)) {
    if (!PREFERENCE_KEYS.has(key))
      issues.push(unrecognized(key, key, 'a preference example has only "input", "preferred_output" and "non_preferred_output"'));
  }
  const start = issues.length;
  const counts: MessagesPerRole = { system: 0, user: 0, assistant: 0, tool: 0 };
  const input = value.input;
  if (!isPlainObject(input)) {
    const got = input === undefined ? 'it is missing' : `got ${describe(input)}`;
    issues.push({ code: 'missing_messages', field: 'input', message: `expected "input": {"messages": [...]}, the prompt; ${got}` });
  } else {
    for (const key of Object.keys(input)) {
      if (!CHAT_KEYS.has(key)) issues.push(unrecognized(`input.${key}`, key, 'the input has only "messages" and "tools"'));
    }
    if ('tools' in input && !Array.isArray(input.tools)) {
      issues.push({
        code: 'invalid_value',
        field: 'input.tools',
        message: `expected "tools" to be an array, got ${describe(input.tools)}`,
      });
    }
    const messages = input.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      const got = messages === undefined ? 'it is missing' : `got ${describe(messages)}`;
      issues.push({
        code: 'missing_messages',
        field: 'input.messages',
        message: `expected "input.messages": a non-empty array of {"role", "content"}; ${got}`,
      });
    } else {
      checkMessages(messages, 'input.messages', issues, counts);
      const last = messages[messages.length - 1] as { role?: unknown } | null;
      if (isPlainObject(last) && typeof last.role === 'string' && last.role !== 'user') {
        issues.push({
          code: 'prompt_not_user_turn',
          field: `input.messages[${messages.length - 1}].role`,
          message: `the prompt must end with a "user" message (the answers reply to it); it ends with a ${JSON.stringify(last.role)} message`,
        });
      }
    }
  }
  const preferred = checkOutput(value, 'preferred_output', issues);
  const rejected = checkOutput(value, 'non_preferred_output', issues);
  if (preferred !== null && rejected !== null && preferred === rejected) {
    issues.push({
      code: 'identical_outputs',
      field: 'non_preferred_output[0].content',
      message: 'the preferred and the non-preferred answer are the same text: the pair teaches nothing',
    });
  }
  // The pair's two answers are assistant messages too.
  if (roles && issues.length === start) addRoles(roles, { ...counts, assistant: counts.assistant + 2 });
}

/** Checks one side of a pair (exactly one assistant message with text); returns its content when valid. */
function checkOutput(value: Record<string, unknown>, key: string, issues: LineIssue[]): string | null {
  const output = value[key];
  if (!Array.isArray(output) || output.length === 0) {
    const got = output === undefined ? 'it is missing' : `got ${describe(output)}`;
    issues.push({ code: 'missing_output', field: key, message: `expected "${key}": [{"role": "assistant", "content": "..."}]; ${got}` });
    return null;
  }
  if (output.length > 1) {
    issues.push({
      code: 'too_many_output_messages',
      field: key,
      message: `expected exactly one assistant message in "${key}", got ${output.length} messages`,
    });
    return null;
  }
  const message: unknown = output[0];
  const at = `${key}[0]`;
  if (!isPlainObject(message)) {
    issues.push({ code: 'not_an_object', field: at, message: `expected a message object {"role", "content"}, got ${describe(message)}` });
    return null;
  }
  const before = issues.length;
  for (const k of Object.keys(message)) {
    if (!OUTPUT_MESSAGE_KEYS.has(k)) issues.push(unrecognized(`${at}.${k}`, k, 'an answer has only "role" and "content"'));
  }
  if (message.role !== 'assistant') {
    const got = message.role === undefined ? 'it is missing' : `got ${describe(message.role)}`;
    issues.push({ code: 'output_not_assistant', field: `${at}.role`, message: `expected "role": "assistant"; ${got}` });
  }
  const content = message.content;
  if (typeof content !== 'string' || content.trim() === '') {
    const got = content === undefined ? 'it is missing' : typeof content === 'string' ? 'it is blank' : `got ${describe(content)}`;
    issues.push({ code: 'missing_output', field: `${at}.content`, message: `expected "content" to be a non-empty string; ${got}` });
  }
  return issues.length === before ? (content as string) : null;
}

/**
 * The two sequences of a checked preference example, as chats the tokenizer renders
 * (trainer/FORMAT.md § Preference shards): the prompt followed by the preferred answer,
 * then by the non-preferred one. Assistant turns of the prompt are context (weight 0), so
 * only the answer and its end-of-turn tokens are trained on.
 */
export function preferenceSides(example: PreferenceExample): [ChatExample, ChatExample] {
  const prompt = example.input.messages.map((m) => (m.role === 'assistant' ? { ...m, weight: 0 as const } : m));
  const side = (answer: ChatMessage): ChatExample => ({
    messages: [...prompt, { role: 'assistant', content: answer.content ?? '' }],
    ...(example.input.tools ? { tools: example.input.tools } : {}),
  });
  return [side(example.preferred_output[0]), side(example.non_preferred_output[0])];
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

/** Adds an example's messages per role to the dataset's tally. */
function addRoles(roles: MessagesPerRole, counts: MessagesPerRole): void {
  roles.system += counts.system;
  roles.user += counts.user;
  roles.assistant += counts.assistant;
  roles.tool += counts.tool;
}
