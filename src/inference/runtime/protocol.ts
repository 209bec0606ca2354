/**
 * Messages between the api thread and a model's runtime worker. The worker owns the
 * onnxruntime session and the batch; onnxruntime-node runs a forward pass synchronously
 * on the calling thread, so on the api thread every decode step and prefill (tens to
 * hundreds of milliseconds on a CPU) would stall every HTTP request, SSE stream and health check of the process.
 */
import type { SamplingOptions } from './sampler.js';
import type { OnnxModelInfo } from './onnx-info.js';
import type { AdapterFactors } from './lora-stack.js';

export interface LoadMessage {
  type: 'load';
  onnxPath: string;
  modelDir: string;
  providers: string[];
  threads: number;
  maxBatch: number;
}

/** One request, already validated, counted and paid for by the api. */
export interface GenerationJob {
  id: string;
  /** Requests are admitted round-robin over accounts, so one account cannot starve others. */
  accountId: string;
  promptIds: number[];
  maxTokens: number;
  stop: string[];
  sampling: SamplingOptions;
  /** The LoRA adapter the request runs with (a LoRA-input runtime; its factors are shared memory, not copied). */
  adapter?: AdapterFactors;
  /**
   * Report log-probabilities: each generated token's, with this many most likely
   * alternatives (0–20); absent = none.
   */
  logprobs?: number;
}

/** A generated token's log-probability under the model (log-softmax of its logits) and the most likely alternatives. */
export interface TokenLogprob {
  token: number;
  logprob: number;
  top: Array<[token: number, logprob: number]>;
}

export type HostMessage = LoadMessage | { type: 'submit'; job: GenerationJob } | { type: 'cancel'; id: string } | { type: 'close' };

export type FinishReason = 'stop' | 'length' | 'cancelled' | 'error';

export type JobEvent =
  /** New text of a job (never part of a character, never part of a stop sequence). */
  | { type: 'text'; id: string; text: string; logprobs?: TokenLogprob[] }
  | {
      type: 'done';
      id: string;
      finishReason: FinishReason;
      /** Text not sent yet (held back for a character or a possible stop sequence). */
      text: string;
      /** Every generated token, eos and stop-sequence tokens included (they are billed). */
      tokenIds: number[];
      /** Log-probabilities of the tokens of `text` (when asked for): every token of the answer is in one event. */
      logprobs?: TokenLogprob[];
      error?: string;
    };

export type WorkerMessage =
  | { type: 'loaded'; provider: string; info: OnnxModelInfo }
  | { type: 'load-failed'; message: string }
  | { type: 'events'; events: JobEvent[] };
