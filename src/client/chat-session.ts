import type { ApiClient, ChatChunk, ChatMessage } from './api-client.js';

/** Sampling settings passed through to `/v1/chat/completions`. */
export interface ChatSettings {
  temperature?: number;
  maxTokens?: number;
}

/**
 * One conversation with a deployed model: it keeps the messages so far, sends them all with
 * each question (the API is stateless), and streams the answer token by token.
 */
export class ChatSession {
  private readonly messages: ChatMessage[] = [];
  usage: ChatChunk['usage'] = null;

  constructor(
    private readonly client: ApiClient,
    private readonly model: string,
    private readonly settings: ChatSettings = {},
    private readonly system?: string,
  ) {
    this.reset();
  }

  /** Forgets the conversation (the system message stays). */
  reset(): void {
    this.messages.length = 0;
    if (this.system) this.messages.push({ role: 'system', content: this.system });
  }

  private body() {
    return {
      model: this.model,
      messages: this.messages,
      ...(this.settings.temperature !== undefined ? { temperature: this.settings.temperature } : {}),
      ...(this.settings.maxTokens !== undefined ? { max_tokens: this.settings.maxTokens } : {}),
    };
  }

  /** Asks `text`; `onText` hears each piece of the answer as it is generated. Resolves with the whole answer. */
  async ask(text: string, onText: (piece: string) => void, signal?: AbortSignal): Promise<string> {
    this.messages.push({ role: 'user', content: text });
    let answer = '';
    try {
      for await (const chunk of this.client.chatStream(this.body(), signal)) {
        if (chunk.usage) this.usage = chunk.usage;
        const piece = chunk.choices[0]?.delta?.content ?? '';
        if (piece) {
          answer += piece;
          onText(piece);
        }
      }
    } catch (err) {
      // A question that got no answer is not part of the conversation.
      this.messages.pop();
      throw err;
    }
    this.messages.push({ role: 'assistant', content: answer });
    return answer;
  }

  /** Asks `text` without streaming and returns the whole completion object (for `--json`). */
  async complete(text: string): Promise<Record<string, unknown>> {
    this.messages.push({ role: 'user', content: text });
    return this.client.chat(this.body());
  }
}
