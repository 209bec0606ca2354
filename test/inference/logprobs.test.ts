/**
 * The runtime's per-token log-probabilities (what `logprobs` / `top_logprobs` report)
 * against a plain float64 log-softmax, on random logits.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tokenLogprob } from '../../src/inference/runtime/logprobs.js';

const logits = fc.array(fc.float({ min: -50, max: 50, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 300 });

describe('tokenLogprob', () => {
  it('is the log-softmax of the logits, with the most likely tokens first', () => {
    fc.assert(
      fc.property(logits, fc.nat(), fc.integer({ min: 0, max: 20 }), (values, pick, top) => {
        const row = Float32Array.from(values);
        const token = pick % row.length;
        const max = Math.max(...row);
        const logZ = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
        const lp = tokenLogprob(row, row.length, token, top);
        expect(lp.token).toBe(token);
        expect(lp.logprob).toBeCloseTo(row[token]! - logZ, 6);
        expect(lp.top.length).toBe(Math.min(top, row.length));
        // Descending, ties by lower id, and nothing left out is more likely than the last kept.
        const expected = [...row.keys()].sort((a, b) => row[b]! - row[a]! || a - b).slice(0, top);
        expect(lp.top.map(([id]) => id)).toEqual(expected);
        lp.top.forEach(([id, p]) => expect(p).toBeCloseTo(row[id]! - logZ, 6));
      }),
    );
  });

  it('reads only the first vocabSize logits (a padded row)', () => {
    const row = Float32Array.from([1, 2, 3, 100]);
    const lp = tokenLogprob(row, 3, 2, 2);
    expect(lp.top.map(([id]) => id)).toEqual([2, 1]);
    const total = [0, 1, 2].reduce((s, i) => s + Math.exp(tokenLogprob(row, 3, i, 0).logprob), 0);
    expect(total).toBeCloseTo(1, 10);
  });
});
