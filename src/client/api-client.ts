import fs from 'node:fs';
import path from 'node:path';
import type { Static } from 'typebox';
import type { AccountSchema } from '../rest/routes/account.js';
import type { DatasetSchema } from '../rest/routes/datasets.js';
import type { DeploymentSchema } from '../rest/routes/inference.js';
import type { ModelSchema } from '../rest/routes/models.js';
import type { EstimateSchema, TrainingJobSchema } from '../rest/routes/training.js';
import { ApiError, ConnectionError } from './api-error.js';
import { serverSentEvents } from './server-sent-events.js';

// The shapes are the server's own REST schemas (type-only imports: nothing of the server is
// loaded at run time), so the client cannot drift from what the routes answer.
export type Account = Static<typeof AccountSchema>;
export type Dataset = Static<typeof DatasetSchema>;
export type Deployment = Static<typeof DeploymentSchema>;
export type Model = Static<typeof ModelSchema>;
export type Job = Static<typeof TrainingJobSchema>;
export type Estimate = Static<typeof EstimateSchema>;

/** A page of a REST listing; `nextCursor` is the `after` of the next page. */
export interface Page<T> {
  data: T[];
  hasMore: boolean;
  nextCursor: string | null;
}

/** One stored job event (`GET /api/training/{id}/events`): its row plus its payload's fields. */
export interface JobEvent {
  sequence: number;
  type: 'step' | 'status' | 'eval' | 'checkpoint' | string;
  step: number;
  status: string;
  createdAt: string;
  totalSteps?: number | null;
  epoch?: number | null;
  loss?: number | null;
  tokensPerSecond?: number | null;
  /** Seconds the trainer had been training when it took the step. */
  trainerTime?: number | null;
  evalLoss?: number | null;
  [field: string]: unknown;
}

/** The body of `POST /api/fine-tune/estimate` and `…/training/start`. */
export interface StartJobBody {
  baseModel: string;
  trainingDataset: string;
  validationDataset?: string;
  method?: string;
  trainable?: string;
  hyperparameters?: Record<string, number | string>;
  suffix?: string;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One `chat.completion.chunk` of a streamed answer (the fields the CLI reads). */
export interface ChatChunk {
  choices: Array<{ delta?: { content?: string }; finish_reason?: string | null }>;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
}

/** Where the server is and who is asking. */
export interface Connection {
  url: string;
  apiKey: string;
}

interface RequestOptions {
  json?: unknown;
  body?: BodyInit | AsyncIterable<Uint8Array>;
  query?: Record<string, string | number | boolean | undefined | null>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * The Tuneloop REST API as the command line uses it: one method per route, typed answers,
 * and every refusal as an `ApiError` carrying the server's code. Only HTTP: a client never
 * touches the database.
 */
export class ApiClient {
  readonly url: string;

  constructor(private readonly connection: Connection) {
    this.url = connection.url.replace(/\/+$/, '');
  }

  /** Sends one request; resolves with the response when it is 2xx, else throws ApiError. */
  async send(method: string, route: string, opts: RequestOptions = {}): Promise<Response> {
    const query = Object.entries(opts.query ?? {}).filter(([, v]) => v !== undefined && v !== null);
    const target = `${this.url}${route}${query.length ? `?${new URLSearchParams(query.map(([k, v]) => [k, String(v)]))}` : ''}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.connection.apiKey}`, ...opts.headers };
    let body = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    }
    let response: Response;
    try {
      response = await fetch(target, {
        method,
        headers,
        body: body as BodyInit | undefined,
        signal: opts.signal,
        // A streamed request body (an upload) needs half-duplex in Node's fetch.
        ...(body && typeof body === 'object' && Symbol.asyncIterator in body ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ConnectionError(this.url, err);
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => '');
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: the fallback message below says what came back
    }
    throw ApiError.fromBody(
      response.status,
      parsed,
      `${method} ${route} answered HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
    );
  }

  /** Sends one request and parses its JSON answer. */
  async json<T>(method: string, route: string, opts: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, route, opts);
    return (await response.json()) as T;
  }

  account(): Promise<Account> {
    return this.json('GET', '/api/account');
  }

  // ─── Datasets ────────────────────────────────────────────────────────────────────

  /**
   * Streams a JSONL file to `POST /api/datasets` as a raw body; `onProgress` hears how many
   * bytes the request has taken so far (fetch pulls the file as it sends it).
   */
  async uploadDataset(file: string, opts: { model?: string; onProgress?: (sent: number, total: number) => void } = {}): Promise<Dataset> {
    const { size } = await fs.promises.stat(file);
    const onProgress = opts.onProgress ?? (() => {});
    async function* counted(): AsyncGenerator<Uint8Array> {
      let sent = 0;
      for await (const chunk of fs.createReadStream(file, { highWaterMark: 256 * 1024 })) {
        sent += (chunk as Buffer).length;
        onProgress(sent, size);
        yield chunk as Buffer;
      }
    }
    onProgress(0, size);
    const response = await this.send('POST', '/api/datasets', {
      body: counted(),
      query: { filename: path.basename(file), model: opts.model },
      headers: { 'content-type': 'application/jsonl', 'content-length': String(size) },
    });
    return (await response.json()) as Dataset;
  }

  listDatasets(opts: { limit?: number; after?: string; status?: string } = {}): Promise<Page<Dataset>> {
    return this.json('GET', '/api/datasets', { query: opts });
  }

  getDataset(id: string): Promise<Dataset> {
    return this.json('GET', `/api/datasets/${encodeURIComponent(id)}`);
  }

  // ─── Models and deployments ──────────────────────────────────────────────────────

  listModels(opts: { fineTunable?: boolean; limit?: number; after?: string } = {}): Promise<Page<Model>> {
    return this.json('GET', '/api/models', { query: opts });
  }

  /**
   * Deploys a model (`quantization`: NONE, INT8 or INT4; absent: the model's default);
   * `created` is false when a live deployment of it already existed.
   */
  async deploy(modelId: string, quantization?: string): Promise<{ deployment: Deployment; created: boolean }> {
    const response = await this.send('POST', '/api/deployments', { json: { modelId, ...(quantization ? { quantization } : {}) } });
    return { deployment: (await response.json()) as Deployment, created: response.status === 201 };
  }

  getDeployment(id: string): Promise<Deployment> {
    return this.json('GET', `/api/deployments/${encodeURIComponent(id)}`);
  }

  // ─── Training ────────────────────────────────────────────────────────────────────

  estimate(body: StartJobBody): Promise<Estimate> {
    return this.json('POST', '/api/fine-tune/estimate', { json: body });
  }

  /** Starts a job; the idempotency key makes a retried request return the same job. */
  startJob(body: StartJobBody, idempotencyKey: string): Promise<Job> {
    return this.json('POST', '/api/fine-tune/training/start', { json: body, headers: { 'idempotency-key': idempotencyKey } });
  }

  listJobs(opts: { limit?: number; after?: string; status?: string } = {}): Promise<Page<Job>> {
    return this.json('GET', '/api/training', { query: opts });
  }

  getJob(id: string): Promise<Job> {
    return this.json('GET', `/api/training/${encodeURIComponent(id)}`);
  }

  /** `cancel`, `pause` or `resume` a job; answers the job as it is afterwards. */
  controlJob(id: string, action: 'cancel' | 'pause' | 'resume'): Promise<Job> {
    return this.json('POST', `/api/training/${encodeURIComponent(id)}/${action}`);
  }

  /**
   * A job's events as a server-sent event stream: the stored ones after `afterStep` (and
   * after sequence `lastEventId`), then live ones until the job ends. The stream counts as
   * dead, and ends with a ConnectionError, when nothing (not even the server's keep-alive
   * comment, every 15 s) arrives for `idleMs`.
   */
  async *jobEvents(
    id: string,
    opts: { afterStep?: number; lastEventId?: number; signal?: AbortSignal; idleMs?: number } = {},
  ): AsyncGenerator<JobEvent> {
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    opts.signal?.addEventListener('abort', onAbort);
    let idle: NodeJS.Timeout | undefined;
    let timedOut = false;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        timedOut = true;
        abort.abort();
      }, opts.idleMs ?? 45_000);
    };
    try {
      touch();
      const response = await this.send('GET', `/api/training/${encodeURIComponent(id)}/events`, {
        query: { afterStep: opts.afterStep },
        headers: { accept: 'text/event-stream', ...(opts.lastEventId ? { 'last-event-id': String(opts.lastEventId) } : {}) },
        signal: abort.signal,
      });
      for await (const message of serverSentEvents(response.body!, touch)) yield JSON.parse(message.data) as JobEvent;
    } catch (err) {
      if (timedOut) throw new ConnectionError(this.url, new Error('no data from the event stream'));
      if (opts.signal?.aborted) return;
      if ((err as Error).name === 'AbortError' || (err as Error).name === 'TypeError') throw new ConnectionError(this.url, err);
      throw err;
    } finally {
      clearTimeout(idle);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  // ─── Inference ───────────────────────────────────────────────────────────────────

  /** `POST /v1/chat/completions` with `stream: true`: the answer's chunks as they are generated. */
  async *chatStream(
    body: { model: string; messages: ChatMessage[]; [k: string]: unknown },
    signal?: AbortSignal,
  ): AsyncGenerator<ChatChunk> {
    const response = await this.send('POST', '/v1/chat/completions', {
      json: { ...body, stream: true, stream_options: { include_usage: true } },
      signal,
    });
    for await (const message of serverSentEvents(response.body!)) {
      if (message.data === '[DONE]') return;
      const chunk = JSON.parse(message.data) as ChatChunk & { error?: unknown };
      if (chunk.error) throw ApiError.fromBody(500, chunk, 'the answer broke off');
      yield chunk;
    }
  }

  /** `POST /v1/chat/completions` without streaming: the whole completion object. */
  chat(body: { model: string; messages: ChatMessage[]; [k: string]: unknown }): Promise<Record<string, unknown>> {
    return this.json('POST', '/v1/chat/completions', { json: { ...body, stream: false } });
  }
}
