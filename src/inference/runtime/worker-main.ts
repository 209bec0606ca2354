import { parentPort } from 'node:worker_threads';
import { OnnxCausalLM } from './onnx-causal-lm.js';
import { readOnnxInfo } from './onnx-info.js';
import { BatchScheduler } from './scheduler.js';
import type { HostMessage, LoadMessage, WorkerMessage } from './protocol.js';
import { ModelTokenizer } from '../text/model-tokenizer.js';

/**
 * A model's runtime, in its own worker thread: loads the session and the tokenizer, then
 * runs the batch scheduler; every message in is a submit or a cancel, every message out a
 * batch of job events. See protocol.ts for why this is a thread.
 */
if (!parentPort) throw new Error('worker-main runs inside a worker thread');
const port = parentPort;
const post = (message: WorkerMessage) => port.postMessage(message);

let model: OnnxCausalLM | undefined;
let scheduler: BatchScheduler | undefined;

/** Logits of one pass are at most this many floats (a 150k vocabulary gets ~200-token chunks). */
const MAX_LOGIT_FLOATS = 32 * 1024 * 1024;

async function load(msg: LoadMessage): Promise<void> {
  try {
    const [tokenizer, info] = await Promise.all([ModelTokenizer.load(msg.modelDir), readOnnxInfo(msg.onnxPath, msg.modelDir)]);
    model = await OnnxCausalLM.load(msg.onnxPath, info, { providers: msg.providers, threads: msg.threads });
    scheduler = new BatchScheduler(
      model,
      {
        maxBatch: msg.maxBatch,
        prefillChunk: Math.max(16, Math.min(512, Math.floor(MAX_LOGIT_FLOATS / info.vocabSize))),
        eosTokenIds: tokenizer.eosTokenIds,
        streamDecoder: () => tokenizer.streamDecoder(),
      },
      (events) => post({ type: 'events', events }),
    );
    post({ type: 'loaded', provider: model.provider, info });
  } catch (err) {
    post({ type: 'load-failed', message: err instanceof Error ? err.message : String(err) });
  }
}

port.on('message', (msg: HostMessage) => {
  switch (msg.type) {
    case 'load':
      void load(msg);
      break;
    case 'submit':
      scheduler?.submit(msg.job);
      break;
    case 'cancel':
      scheduler?.cancel(msg.id);
      break;
    case 'close':
      void (async () => {
        await scheduler?.stop();
        await model?.release();
        port.close();
      })();
      break;
  }
});
