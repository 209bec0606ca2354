import type { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import { startWorkerThread } from '../start-worker-thread.js';
import type { OnnxModelInfo } from './runtime/onnx-info.js';
import type { GenerationJob, HostMessage, JobEvent, TokenLogprob, WorkerMessage } from './runtime/protocol.js';

export interface ModelHostOptions {
  onnxPath: string;
  modelDir: string;
  providers: string[];
  threads: number;
  maxBatch: number;
  log: Logger;
}

export type DoneEvent = Extract<JobEvent, { type: 'done' }>;

export interface JobHandlers {
  onText(text: string, logprobs?: TokenLogprob[]): void;
  onDone(event: DoneEvent): void;
}

/** The runtime could not load the model; `message` is the reason a deployment shows. */
export class ModelLoadError extends Error {}

const WORKER_ENTRY = new URL('./runtime/worker-main.js', import.meta.url);
const CLOSE_GRACE_MS = 5_000;

/**
 * The api thread's handle on one model's runtime worker: submits jobs, routes their
 * events back, and fails whatever is in flight if the worker dies (the registry starts a
 * new one for the next request).
 */
export class ModelHost {
  private readonly jobs = new Map<string, JobHandlers>();
  private closing = false;
  private exited = false;

  private constructor(
    private readonly worker: Worker,
    readonly info: OnnxModelInfo,
    /** The execution provider the session runs on (`cpu`, `cuda`, …). */
    readonly provider: string,
    private readonly log: Logger,
  ) {
    worker.on('message', (msg: WorkerMessage) => {
      if (msg.type === 'events') for (const event of msg.events) this.dispatch(event);
    });
    worker.on('error', (err) => log.error({ err }, 'model runtime worker failed'));
    worker.on('exit', (code) => {
      this.exited = true;
      if (!this.closing) log.error({ code }, 'model runtime worker exited');
      for (const [id, handlers] of this.jobs) {
        handlers.onDone({ type: 'done', id, finishReason: 'error', text: '', tokenIds: [], error: 'the model runtime stopped' });
      }
      this.jobs.clear();
    });
  }

  /** Starts a worker and loads the model in it; throws ModelLoadError with the reason. */
  static async start(opts: ModelHostOptions): Promise<ModelHost> {
    const worker = startWorkerThread(WORKER_ENTRY, { stdout: false, stderr: false });
    const send = (msg: HostMessage) => worker.postMessage(msg);
    try {
      const loaded = await new Promise<Extract<WorkerMessage, { type: 'loaded' }>>((resolve, reject) => {
        worker.once('error', (err) => reject(new ModelLoadError(`the model runtime failed to start: ${err.message}`)));
        worker.once('exit', (code) => reject(new ModelLoadError(`the model runtime exited while loading (code ${code})`)));
        worker.on('message', function onMessage(msg: WorkerMessage) {
          if (msg.type === 'loaded') resolve(msg);
          else if (msg.type === 'load-failed') reject(new ModelLoadError(msg.message));
          else return;
          worker.off('message', onMessage);
        });
        send({
          type: 'load',
          onnxPath: opts.onnxPath,
          modelDir: opts.modelDir,
          providers: opts.providers,
          threads: opts.threads,
          maxBatch: opts.maxBatch,
        });
      });
      worker.removeAllListeners('error');
      worker.removeAllListeners('exit');
      return new ModelHost(worker, loaded.info, loaded.provider, opts.log);
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  }

  /** Requests submitted and not finished: decoding, prefilling or waiting for a slot. */
  get inflight(): number {
    return this.jobs.size;
  }

  get alive(): boolean {
    return !this.exited && !this.closing;
  }

  /** Starts a job; returns its cancel function (idempotent; `onDone` still follows). */
  submit(job: GenerationJob, handlers: JobHandlers): () => void {
    if (!this.alive) {
      queueMicrotask(() =>
        handlers.onDone({ type: 'done', id: job.id, finishReason: 'error', text: '', tokenIds: [], error: 'the model runtime stopped' }),
      );
      return () => {};
    }
    this.jobs.set(job.id, handlers);
    this.worker.postMessage({ type: 'submit', job } satisfies HostMessage);
    let cancelled = false;
    return () => {
      if (cancelled || !this.jobs.has(job.id) || this.exited) return;
      cancelled = true;
      this.worker.postMessage({ type: 'cancel', id: job.id } satisfies HostMessage);
    };
  }

  /** Cancels what runs, lets the worker release its session, and ends it. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'close' } satisfies HostMessage);
    const timer = setTimeout(() => void this.worker.terminate(), CLOSE_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  private dispatch(event: JobEvent): void {
    const handlers = this.jobs.get(event.id);
    if (!handlers) return;
    try {
      if (event.type === 'text') handlers.onText(event.text, event.logprobs);
      else {
        this.jobs.delete(event.id);
        handlers.onDone(event);
      }
    } catch (err) {
      this.log.error({ err, job: event.id }, 'a generation event handler failed');
    }
  }
}
