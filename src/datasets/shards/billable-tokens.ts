import { open } from 'node:fs/promises';
import type { LengthHistogram } from './shard-summary.js';

/**
 * Tokens one epoch is billed for: Σ min(example length, maxSeqLength), exactly what the
 * trainer processes (it cuts longer examples at maxSeqLength). Accepts the length
 * histogram of a `ShardSummary` or of validation stats (`stats.tokens`).
 */
export function countBillableTokens(source: LengthHistogram | { lengths: LengthHistogram }, maxSeqLength: number): number {
  if (!(maxSeqLength > 0)) throw new RangeError(`maxSeqLength must be positive, got ${maxSeqLength}`);
  const lengths = Array.isArray(source) ? source : source.lengths;
  let total = 0;
  for (const [length, count] of lengths) total += Math.min(length, maxSeqLength) * count;
  return total;
}

/** The example-length histogram read back from a shard file's offsets section. */
export async function readShardLengths(shardPath: string): Promise<LengthHistogram> {
  const handle = await open(shardPath, 'r');
  try {
    const header = Buffer.alloc(64);
    await handle.read(header, 0, 64, 0);
    if (header.toString('latin1', 0, 8) !== 'TLSHARD\0') throw new Error(`${shardPath} is not a token shard`);
    const examples = Number(header.readBigUInt64LE(24));
    const offsetsAt = Number(header.readBigUInt64LE(48));
    const lengths = new Map<number, number>();
    const buf = Buffer.alloc(8 * 8192);
    let previous = 0n;
    for (let i = 0; i <= examples; ) {
      const want = Math.min(8192, examples + 1 - i);
      const { bytesRead } = await handle.read(buf, 0, want * 8, offsetsAt + i * 8);
      if (bytesRead < want * 8) throw new Error(`${shardPath} is truncated`);
      for (let k = 0; k < want; k++, i++) {
        const offset = buf.readBigUInt64LE(k * 8);
        if (i > 0) {
          const n = Number(offset - previous);
          lengths.set(n, (lengths.get(n) ?? 0) + 1);
        }
        previous = offset;
      }
    }
    return [...lengths].sort((a, b) => a[0] - b[0]);
  } finally {
    await handle.close();
  }
}
