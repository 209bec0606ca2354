import { Buffer } from 'node:buffer';
import { Template } from '@huggingface/jinja';
import { TokenizerError } from './tokenizer-error.js';
import type { ChatExample, ChatMessage } from './example.js';
import { isContentOpaque } from './template-analysis.js';

/** Rendered text and its trainable byte ranges `[start, end)` in UTF-8. */
export interface RenderedText {
  text: string;
  spans: Array<[number, number]>;
}

/** A skeleton render: literal parts and content slots, spans as part-relative byte positions. */
interface Plan {
  parts: Array<string | number>;
  partBytes: number[];
  spans: Array<[[number, number], [number, number]]>;
  uses: number;
}

const SENTINEL = /\uE000(\d+)\uE001/g;
const sentinel = (i: number) => `\uE000${i}\uE001`;
const PLAN_CACHE_LIMIT = 10_000;
/** Every n-th use of a plan (and its first) is checked against a real Jinja render. */
const VERIFY_EVERY = 1000;

/**
 * Renders chat examples with the model's template and finds the trainable spans:
 * for each assistant message (weight ≠ 0), from the end of the conversation so far
 * rendered with `add_generation_prompt` up to and including the first end-of-turn
 * marker after its content. Requires a prefix-stable template (rendering a prefix
 * of the messages yields a prefix of the full text), as TRL's and Axolotl's maskers do.
 */
export class ChatRenderer {
  /** Whether skeleton renders are used (see template-analysis.ts). */
  opaque: boolean;
  private readonly template: Template;
  private readonly plans = new Map<string, Plan>();

  constructor(
    source: string,
    private readonly globals: Record<string, unknown>,
    /** Literal text that ends an assistant turn, such as `<|im_end|>`. */
    readonly endOfTurn: string,
  ) {
    this.template = new Template(source);
    this.opaque = isContentOpaque(this.template.parsed);
  }

  render(example: ChatExample): RenderedText {
    if (!this.opaque) return this.renderSlow(example);
    const key = planKey(example);
    if (key.includes('\uE000')) return this.renderSlow(example);
    let plan = this.plans.get(key);
    if (!plan) {
      plan = this.buildPlan(example);
      if (this.plans.size >= PLAN_CACHE_LIMIT) this.plans.clear();
      this.plans.set(key, plan);
    }
    const contents = example.messages.map((m) => (typeof m.content === 'string' ? m.content : ''));
    // Joined, not concatenated with +=: the encoder reads a flat string much faster than a rope.
    const strings: string[] = new Array(plan.parts.length);
    const offsets: number[] = new Array(plan.parts.length);
    let at = 0;
    plan.parts.forEach((part, i) => {
      offsets[i] = at;
      const s = typeof part === 'string' ? part : contents[part]!;
      strings[i] = s;
      at += typeof part === 'string' ? plan.partBytes[i]! : Buffer.byteLength(s);
    });
    const text = strings.join('');
    const spans = plan.spans.map(([[ps, bs], [pe, be]]) => [offsets[ps]! + bs, offsets[pe]! + be] as [number, number]);
    if (plan.uses++ % VERIFY_EVERY === 0) {
      const real = this.jinja(example.messages, false, example.tools);
      // The syntax check missed something: render every example with Jinja from now on.
      if (real !== text) {
        this.opaque = false;
        return this.renderSlow(example);
      }
    }
    return { text, spans };
  }

  /** The conversation rendered with the assistant's turn opened (`add_generation_prompt`): what a reply follows. */
  renderPrompt(example: ChatExample): string {
    return this.jinja(example.messages, true, example.tools);
  }

  /** Renders with Jinja for the conversation and for each prefix that ends before an assistant turn. */
  renderSlow(example: ChatExample): RenderedText {
    const { text, spans } = this.charSpans(example.messages, example.tools, (m) => m.content);
    const byteAt = (i: number) => Buffer.byteLength(text.slice(0, i));
    return { text, spans: spans.map(([s, e]) => [byteAt(s), byteAt(e)]) };
  }

  private charSpans(messages: ChatMessage[], tools: unknown[] | undefined, contentOf: (m: ChatMessage) => unknown) {
    const text = this.jinja(messages, false, tools);
    const spans: Array<[number, number]> = [];
    messages.forEach((m, i) => {
      if (m.role !== 'assistant' || m.weight === 0) return;
      const prefix = this.jinja(messages.slice(0, i), true, tools);
      if (!text.startsWith(prefix)) {
        throw new TokenizerError(
          'template_mismatch',
          `the chat template is not prefix-stable: rendering messages[0..${i - 1}] is not the start of the full rendering, so the assistant turn cannot be located`,
        );
      }
      const content = contentOf(m);
      const from = typeof content === 'string' && text.startsWith(content, prefix.length) ? prefix.length + content.length : prefix.length;
      const marker = text.indexOf(this.endOfTurn, from);
      if (marker < 0)
        throw new TokenizerError('template_mismatch', `no end-of-turn marker ${JSON.stringify(this.endOfTurn)} after messages[${i}]`);
      spans.push([prefix.length, marker + this.endOfTurn.length]);
    });
    return { text, spans };
  }

  private buildPlan(example: ChatExample): Plan {
    const messages = example.messages.map((m, i) =>
      typeof m.content === 'string' && m.content !== '' ? { ...m, content: sentinel(i) } : m,
    );
    const { text, spans } = this.charSpans(messages, example.tools, (m) => m.content);
    const parts: Array<string | number> = [];
    const starts: number[] = [];
    let last = 0;
    for (const m of text.matchAll(SENTINEL)) {
      starts.push(last);
      parts.push(text.slice(last, m.index));
      starts.push(m.index);
      parts.push(Number(m[1]));
      last = m.index + m[0].length;
    }
    starts.push(last);
    parts.push(text.slice(last));
    const locate = (pos: number): [number, number] => {
      for (let p = parts.length - 1; p >= 0; p--) {
        if (starts[p]! <= pos) {
          const part = parts[p]!;
          if (typeof part !== 'string') {
            if (pos !== starts[p])
              throw new TokenizerError('template_mismatch', 'a trainable span boundary falls inside a message content');
            return [p, 0];
          }
          return [p, Buffer.byteLength(part.slice(0, pos - starts[p]!))];
        }
      }
      return [0, 0];
    };
    return {
      parts,
      partBytes: parts.map((p) => (typeof p === 'string' ? Buffer.byteLength(p) : 0)),
      spans: spans.map(([s, e]) => [locate(s), locate(e)]),
      uses: 0,
    };
  }

  private jinja(messages: ChatMessage[], addGenerationPrompt: boolean, tools: unknown[] | undefined): string {
    try {
      return this.template.render({
        ...this.globals,
        messages,
        add_generation_prompt: addGenerationPrompt,
        ...(tools ? { tools } : {}),
      });
    } catch (error) {
      if (error instanceof TokenizerError) throw error;
      throw new TokenizerError('template_mismatch', (error as Error).message);
    }
  }
}

/**
 * Everything but non-empty contents: examples with equal keys render to the same
 * skeleton. Contents are reduced to their kind (absent, null, empty, text).
 */
function planKey(example: ChatExample): string {
  let key = example.tools ? JSON.stringify(example.tools) : '';
  for (const m of example.messages) {
    const c = m.content;
    key += `\u0001${m.role}\u0002${c === undefined ? 'u' : c === null ? 'n' : c === '' ? 'e' : 's'}${m.weight === 0 ? '0' : ''}`;
    if (m.name !== undefined || m.tool_calls !== undefined || m.tool_call_id !== undefined) {
      key += JSON.stringify([m.name, m.tool_calls, m.tool_call_id]);
    }
  }
  return key;
}
