import { open } from 'node:fs/promises';

/** Receives the lines of a byte range, in order. */
export interface LineSink {
  /**
   * One line: `buf[start, end)` without its `\n` (and without a `\r` before it).
   * `buf` is reused after the call returns: copy what must outlive it.
   * `lineNo` is 1-based within the range.
   */
  line(buf: Buffer, start: number, end: number, lineNo: number): void;
  /** A line longer than `maxLineBytes`: skipped without being held in memory. */
  oversized(lineNo: number, bytes: number): void;
}

export interface ScanOptions {
  /** Byte offset where a line starts (0, or just after a `\n`). */
  start: number;
  /** Exclusive end: just after a `\n`, or the file size. */
  end: number;
  maxLineBytes: number;
  chunkBytes?: number;
  /** Checked after each line: true stops the scan early. */
  stop?: () => boolean;
}

const BOM = [0xef, 0xbb, 0xbf];

/**
 * Reads `path` from `start` to `end` in fixed-size chunks and hands each line to
 * `sink`. Memory is one chunk plus the longest line (bounded by `maxLineBytes`);
 * awaiting each read lets the event loop breathe between chunks. A UTF-8 byte-order
 * mark at offset 0 is skipped; a last line without `\n` counts when non-empty.
 * Returns the number of lines seen.
 */
export async function scanLines(path: string, options: ScanOptions, sink: LineSink): Promise<number> {
  const { start, end, maxLineBytes, chunkBytes = 1 << 20, stop } = options;
  const handle = await open(path, 'r');
  const buf = Buffer.allocUnsafe(chunkBytes);
  let lineNo = 0;
  // A line that spans chunks is gathered here (copied), or only measured when oversized.
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let skipping = false;
  const emit = (line: Buffer, s: number, e: number) => {
    lineNo++;
    if (e > s && line[e - 1] === 13) e--;
    sink.line(line, s, e, lineNo);
  };
  try {
    let pos = start;
    while (pos < end && !stop?.()) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(chunkBytes, end - pos), pos);
      if (bytesRead === 0) break;
      const view = buf.subarray(0, bytesRead);
      let i = 0;
      if (pos === 0 && bytesRead >= 3 && view[0] === BOM[0] && view[1] === BOM[1] && view[2] === BOM[2]) i = 3;
      pos += bytesRead;
      while (i < bytesRead) {
        const nl = view.indexOf(10, i);
        if (nl === -1) {
          const rest = bytesRead - i;
          carryBytes += rest;
          if (!skipping && carryBytes > maxLineBytes) {
            skipping = true;
            carry = [];
          }
          if (!skipping) carry.push(Buffer.from(view.subarray(i, bytesRead)));
          break;
        }
        const total = carryBytes + (nl - i);
        if (skipping || total > maxLineBytes) {
          lineNo++;
          sink.oversized(lineNo, total);
        } else if (carryBytes > 0) {
          carry.push(view.subarray(i, nl));
          const line = Buffer.concat(carry, total);
          emit(line, 0, total);
        } else {
          emit(view, i, nl);
        }
        carry = [];
        carryBytes = 0;
        skipping = false;
        i = nl + 1;
        if (stop?.()) return lineNo;
      }
    }
    if (carryBytes > 0) {
      if (skipping) {
        lineNo++;
        sink.oversized(lineNo, carryBytes);
      } else {
        emit(Buffer.concat(carry, carryBytes), 0, carryBytes);
      }
    }
    return lineNo;
  } finally {
    await handle.close();
  }
}

/**
 * Splits `[0, size)` into about `parts` ranges that each start at a line start, by
 * moving each cut forward to just after the next `\n`. Ranges may come out empty
 * when one line spans several cuts.
 */
export async function splitAtNewlines(path: string, size: number, parts: number): Promise<Array<{ start: number; end: number }>> {
  const cuts = [0];
  const handle = await open(path, 'r');
  try {
    const probe = Buffer.allocUnsafe(64 * 1024);
    for (let p = 1; p < parts; p++) {
      let pos = Math.max(cuts[cuts.length - 1]!, Math.floor((size * p) / parts));
      let cut = size;
      while (pos < size) {
        const { bytesRead } = await handle.read(probe, 0, probe.length, pos);
        if (bytesRead === 0) break;
        const nl = probe.subarray(0, bytesRead).indexOf(10);
        if (nl !== -1) {
          cut = pos + nl + 1;
          break;
        }
        pos += bytesRead;
      }
      cuts.push(cut);
    }
  } finally {
    await handle.close();
  }
  cuts.push(size);
  return cuts.slice(0, -1).map((start, i) => ({ start, end: cuts[i + 1]! }));
}
