/**
 * The examples a tokenizer renders: a chat (training lines and inference requests alike)
 * or a prompt/completion pair. Dataset validation checks lines into these shapes.
 */

/** A chat message as the template sees it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content?: string | null;
  /** 0 excludes an assistant message from the loss; absent means 1. */
  weight?: 0 | 1;
  name?: string;
  tool_calls?: unknown[];
  tool_call_id?: string;
}

export interface ChatExample {
  messages: ChatMessage[];
  tools?: unknown[];
}

export interface CompletionExample {
  prompt: string;
  completion: string;
}

export type Example = ChatExample | CompletionExample;
