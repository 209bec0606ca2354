import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { validateDataset } from '../../src/datasets/validation/index.js';
import { useTempDir } from '../helpers/temp-dir.js';

const tmp = useTempDir('tuneloop-datasets-200mb-');
const TARGET_BYTES = 200 * 1024 * 1024;

/** Writes ≈ 200 MB of distinct chat examples (one bad line at a known place) by streaming. */
async function generate(path: string): Promise<{ lines: number; badLine: number }> {
  const out = createWriteStream(path);
  const words = 'the model learns from every example that it reads and writes back an answer with care'.split(' ');
  let bytes = 0;
  let line = 0;
  const badLine = 300_001;
  while (bytes < TARGET_BYTES) {
    let chunk = '';
    for (let k = 0; k < 2000; k++) {
      line++;
      const w = (i: number) => words[(line * 7 + i * 13) % words.length];
      const text = Array.from({ length: 40 }, (_, i) => w(i)).join(' ');
      chunk +=
        line === badLine
          ? '{"messages": [{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}, {"role": "assistant", "content": "z"}]}\n'
          : `{"messages": [{"role": "system", "content": "Example ${line}."}, {"role": "user", "content": "${text}?"}, {"role": "assistant", "content": "${text}, number ${line}."}]}\n`;
    }
    bytes += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { lines: line, badLine };
}

describe('validation memory', () => {
  it('validates a 200 MB file while the process RSS grows by under 150 MB', async () => {
    const path = tmp.file('big.jsonl');
    const { lines, badLine } = await generate(path);
    expect((await stat(path)).size).toBeGreaterThanOrEqual(TARGET_BYTES);
    global.gc?.();
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 20);
    let report;
    try {
      report = await validateDataset(path);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage.rss());
    const growthMb = (peak - baseline) / (1024 * 1024);
    console.log(
      `200 MB validation: RSS ${Math.round(baseline / 1048576)} MB → peak ${Math.round(peak / 1048576)} MB (+${growthMb.toFixed(0)} MB), ${lines} lines`,
    );
    expect(report.stats).toMatchObject({ examples: lines, lines, format: 'chat' });
    expect(report.errors).toEqual([
      { line: badLine, code: 'unrecognized_role', field: 'messages[1].role', message: expect.stringContaining('"robot"') },
    ]);
    expect(report.warningCount).toBe(0);
    expect(growthMb).toBeLessThan(150);
  }, 120_000);
});
