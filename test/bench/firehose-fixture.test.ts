import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTrainerEvent } from '../../src/engine/trainer-process.js';

/**
 * bench/training-events.ts measures the platform with a stand-in trainer
 * (bench/fixtures/firehose_trainer.py) that only emits protocol events. When the protocol
 * gains a required field the stand-in must follow, or every bench job fails with
 * INVALID_TRAINER_EVENT and the bench measures nothing: each of its events must pass the
 * same check the worker applies to the real trainer's.
 */
const FIXTURE = path.resolve(import.meta.dirname, '../../bench/fixtures/firehose_trainer.py');

describe('the training-events bench stand-in trainer', () => {
  it.each(['lora', 'full', 'dpo'])('emits events the protocol accepts (%s)', (method) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-'));
    try {
      const spec = path.join(dir, 'spec.json');
      fs.writeFileSync(spec, JSON.stringify({ jobId: 'ftjob_bench', method, model: { path: dir } }));
      // The events go to fd 3, as the worker reads them; stdout is left alone.
      const run = spawnSync('/usr/bin/python3', [FIXTURE, '--spec', spec, '--events-fd', '3'], {
        env: { ...process.env, FIREHOSE_STEPS: '3', FIREHOSE_RATE: '0', FIREHOSE_DELAY: '0' },
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      const lines = String(run.output[3]).trim().split('\n');
      expect(lines.map((l) => JSON.parse(l).type)).toEqual(['started', 'step', 'step', 'step', 'completed']);
      for (const line of lines) expect(parseTrainerEvent(line)).toEqual({ event: JSON.parse(line) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
