import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import type { Logger } from '../log.js';
import { TRAINER_DIR, trainerEnv } from './python.js';

/** What a DPO job's `step` and `eval` events add (trainer/PROTOCOL.md § Preference tuning). */
export interface PreferenceMetrics {
  rewardAccuracy: number;
  rewardMargin: number;
  chosenReward: number;
  rejectedReward: number;
}

export const PREFERENCE_METRICS = ['rewardAccuracy', 'rewardMargin', 'chosenReward', 'rejectedReward'] as const;

/** One event of trainer/PROTOCOL.md (validated against trainer/protocol.schema.json). */
export type TrainerEvent =
  | { type: 'started'; time: number; totalSteps: number; epochs: number; resumedFromStep: number | null; [k: string]: unknown }
  | ({
      type: 'step';
      time: number;
      step: number;
      totalSteps: number;
      epoch: number;
      loss: number;
      learningRate: number;
      gradNorm: number;
      tokens: number;
      tokensPerSecond: number;
      tokenAccuracy?: number;
      validLoss?: number;
      validTokenAccuracy?: number;
    } & Partial<PreferenceMetrics>)
  | ({ type: 'eval'; time: number; step: number; loss: number; tokenAccuracy?: number } & Partial<PreferenceMetrics>)
  | { type: 'checkpoint'; time: number; step: number; path: string }
  | {
      type: 'completed';
      time: number;
      step: number;
      tokens: number;
      outputs: { adapter: string | null; model: string | null; onnx: string | null };
    }
  | { type: 'failed'; time: number; code: string; message: string }
  | { type: 'stopped'; time: number; step: number; reason: string };

export interface TrainerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines the trainer wrote to stderr (for crash reports). */
  stderrTail: string;
  /** Set when an event line broke the protocol; the trainer was killed. */
  protocolError: string | null;
}

export interface TrainerRun {
  pid: number | undefined;
  /** Asks the trainer to stop at the next step boundary (SIGTERM); it checkpoints and exits. */
  stop(): void;
  /** Kills it outright (SIGKILL). */
  kill(): void;
  exited: Promise<TrainerExit>;
}

let validator: ValidateFunction | undefined;

/** The protocol's JSON Schema, compiled once. */
function protocolValidator(): ValidateFunction {
  if (!validator) {
    const schema = JSON.parse(fs.readFileSync(path.join(TRAINER_DIR, 'protocol.schema.json'), 'utf8')) as Record<string, unknown>;
    const ajv = new Ajv2020({ allErrors: false, strict: false });
    validator = ajv.compile(schema);
  }
  return validator;
}

/** Checks one event line against the protocol; returns the event or a reason. */
export function parseTrainerEvent(line: string): { event: TrainerEvent } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: `event line is not JSON: ${line.slice(0, 200)}` };
  }
  const validate = protocolValidator();
  if (!validate(value)) {
    const first = validate.errors?.[0];
    return {
      error: `event does not match the protocol (${first?.instancePath || '/'} ${first?.message ?? 'invalid'}): ${line.slice(0, 200)}`,
    };
  }
  return { event: value as TrainerEvent };
}

export interface SpawnTrainerOptions {
  python: string;
  specPath: string;
  resume: boolean;
  log: Logger;
  /** Called for each valid event, in order; the run waits for the promise before the next. */
  onEvent: (event: TrainerEvent) => Promise<void>;
  /** Extra environment (tests use it to inject faults). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Spawns `python -m tuneloop_trainer train` with its events on file descriptor 3 — a pipe
 * of their own, so a stray print on stdout cannot corrupt the protocol. Every line is
 * validated against the protocol schema; an invalid line kills the trainer (the job
 * fails with the reason). stdout/stderr go to the log, and stderr's tail is kept for
 * crash reports.
 */
export function spawnTrainer(opts: SpawnTrainerOptions): TrainerRun {
  const args = ['-m', 'tuneloop_trainer', 'train', '--spec', opts.specPath, '--events-fd', '3'];
  if (opts.resume) args.push('--resume');
  const child: ChildProcess = spawn(opts.python, args, {
    env: trainerEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  let stderrTail = '';
  let protocolError: string | null = null;
  const log = opts.log.child({ trainerPid: child.pid });
  child.stdout?.setEncoding('utf8').on('data', (d: string) => log.debug({ stream: 'stdout' }, d.trimEnd()));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderrTail = (stderrTail + d).slice(-4000);
    log.debug({ stream: 'stderr' }, d.trimEnd());
  });

  const events = child.stdio[3] as Readable;
  const lines = readline.createInterface({ input: events, crlfDelay: Infinity });
  const consumed = (async () => {
    for await (const line of lines) {
      if (!line.trim()) continue;
      const parsed = parseTrainerEvent(line);
      if ('error' in parsed) {
        protocolError = parsed.error;
        child.kill('SIGKILL');
        break;
      }
      try {
        await opts.onEvent(parsed.event);
      } catch (err) {
        log.error({ err }, 'handling a trainer event failed');
        protocolError = `the worker could not store an event: ${(err as Error).message}`;
        child.kill('SIGKILL');
        break;
      }
    }
  })();

  const exited = new Promise<TrainerExit>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
    });
    child.once('close', async (code, signal) => {
      lines.close();
      await consumed.catch(() => {});
      resolve({
        code,
        signal,
        stderrTail: spawnError ? `could not start ${opts.python}: ${spawnError.message}` : stderrTail,
        protocolError,
      });
    });
  });

  return {
    pid: child.pid,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    exited,
  };
}
