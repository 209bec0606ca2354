/**
 * Where LoraStack puts each row's factors: in a fused projection's shared inputs (A side by
 * side along the rank axis, B block-diagonal, each module in its slot and output columns,
 * ranks zero-padded to the batch's largest), and per module for an export made before
 * projections were fused (no slots in its layout). The graph side of the same layout is
 * trainer/tests/test_onnx_lora_export.py; end to end, test/inference/adapters.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { AdapterFactors, LoraLayout } from '../../src/inference/runtime/lora-stack.js';
import { LoraStack } from '../../src/inference/runtime/lora-stack.js';

// q (in 2 → out 3) and v (in 2 → out 1) of one layer, fused with k (out 1) into one projection of 5 outputs.
const grouped: LoraLayout = {
  targets: ['q_proj', 'v_proj'],
  modules: [
    {
      module: 'model.layers.0.self_attn.q_proj',
      in: 2,
      out: 3,
      a: 'lora.0.q_proj+v_proj.a',
      b: 'lora.0.q_proj+v_proj.b',
      slot: 0,
      slots: 2,
      offset: 0,
      groupOut: 5,
    },
    {
      module: 'model.layers.0.self_attn.v_proj',
      in: 2,
      out: 1,
      a: 'lora.0.q_proj+v_proj.a',
      b: 'lora.0.q_proj+v_proj.b',
      slot: 1,
      slots: 2,
      offset: 4,
      groupOut: 5,
    },
  ],
};

/** An adapter of rank `rank` whose entries count up from `start` (A [in, rank], B [rank, out], row-major). */
function adapter(key: string, rank: number, start: number, layout: LoraLayout): AdapterFactors {
  let next = start;
  const fill = (n: number) => Float32Array.from({ length: n }, () => next++);
  return {
    key,
    rank,
    a: layout.modules.map((m) => fill(m.in * rank)),
    b: layout.modules.map((m) => fill(rank * m.out)),
  };
}

const rows = (t: { dims: readonly number[]; data: unknown }) => {
  const [batch, r, c] = t.dims as [number, number, number];
  const data = t.data as Float32Array;
  return Array.from({ length: batch }, (_, b) =>
    Array.from({ length: r }, (_, i) => Array.from(data.subarray((b * r + i) * c, (b * r + i + 1) * c))),
  );
};

describe('LoraStack', () => {
  it('fills a fused projection’s inputs: A side by side, B block-diagonal, ranks padded, zeros for the base', () => {
    const one = adapter('one', 2, 1, grouped); // q: A 1..4, v: A 5..8; q: B 9..14, v: B 15..16
    const feeds = new LoraStack(grouped).feeds([one, null]);
    const a = feeds['lora.0.q_proj+v_proj.a']!;
    const b = feeds['lora.0.q_proj+v_proj.b']!;
    expect(a.dims).toEqual([2, 2, 4]); // [batch, in, 2 slots × rank 2]
    expect(b.dims).toEqual([2, 4, 5]); // [batch, 2 slots × rank 2, q|k|v outputs]
    expect(rows(a)[0]).toEqual([
      [1, 2, 5, 6],
      [3, 4, 7, 8],
    ]);
    expect(rows(b)[0]).toEqual([
      [9, 10, 11, 0, 0],
      [12, 13, 14, 0, 0],
      [0, 0, 0, 0, 15],
      [0, 0, 0, 0, 16],
    ]);
    const zero = (t: typeof a) =>
      rows(t)[1]!
        .flat()
        .every((x) => x === 0);
    expect(zero(a) && zero(b)).toBe(true);
  });

  it('pads a smaller rank inside its slot when the batch holds a larger one', () => {
    const small = adapter('small', 1, 1, grouped); // q: A 1,2; v: A 3,4; q: B 5,6,7; v: B 8
    const big = adapter('big', 2, 100, grouped);
    const feeds = new LoraStack(grouped).feeds([small, big]);
    expect(rows(feeds['lora.0.q_proj+v_proj.a']!)[0]).toEqual([
      [1, 0, 3, 0],
      [2, 0, 4, 0],
    ]);
    expect(rows(feeds['lora.0.q_proj+v_proj.b']!)[0]).toEqual([
      [5, 6, 7, 0, 0],
      [0, 0, 0, 0, 0],
      [0, 0, 0, 0, 8],
      [0, 0, 0, 0, 0],
    ]);
  });

  it('feeds an export made before fused projections one pair per module', () => {
    const perModule: LoraLayout = {
      targets: ['q_proj', 'v_proj'],
      modules: [
        { module: 'model.layers.0.self_attn.q_proj', in: 2, out: 3, a: 'lora.0.q_proj.a', b: 'lora.0.q_proj.b' },
        { module: 'model.layers.0.self_attn.v_proj', in: 2, out: 1, a: 'lora.0.v_proj.a', b: 'lora.0.v_proj.b' },
      ],
    };
    const feeds = new LoraStack(perModule).feeds([adapter('one', 2, 1, perModule)]);
    expect(Object.keys(feeds)).toEqual(['lora.0.q_proj.a', 'lora.0.q_proj.b', 'lora.0.v_proj.a', 'lora.0.v_proj.b']);
    expect(rows(feeds['lora.0.q_proj.a']!)[0]).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(rows(feeds['lora.0.v_proj.b']!)[0]).toEqual([[15], [16]]);
  });
});
