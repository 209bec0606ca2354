/**
 * Writes token shards in the trainer's format (trainer/FORMAT.md, version 1):
 * a 64-byte little-endian header, then u32 tokens, u8 mask and u64 example offsets,
 * each section 8-byte aligned. Shards are built from "parts" (one per worker range:
 * tokens, mask and example lengths in three files) and assembled by streaming the
 * parts into a temp file that is fsynced and renamed into place, so a shard that
 * exists is complete and memory stays bounded whatever its size.
 */
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

const MAGIC = Buffer.from('TLSHARD\0', 'latin1');
const HEADER_BYTES = 64;
const FLUSH_BYTES = 1 << 20;

/** One part's files and totals. */
export interface ShardPart {
  tokensPath: string;
  maskPath: string;
  lengthsPath: string;
  examples: number;
  tokens: number;
}

/** Buffered appender of one part (synchronous writes: it runs in workers, or on small inputs). */
export class ShardPartWriter {
  private readonly files: Array<{ fd: number; buf: Buffer; used: number }>;
  examples = 0;
  tokens = 0;
  private closed = false;

  constructor(readonly part: Omit<ShardPart, 'examples' | 'tokens'>) {
    this.files = [part.tokensPath, part.maskPath, part.lengthsPath].map((p) => ({
      fd: openSync(p, 'w'),
      buf: Buffer.allocUnsafe(FLUSH_BYTES),
      used: 0,
    }));
  }

  add(tokens: Uint32Array, mask: Uint8Array): void {
    if (tokens.length === 0) throw new Error('a shard example must have at least one token');
    const [t, m, l] = this.files as [(typeof this.files)[0], (typeof this.files)[0], (typeof this.files)[0]];
    this.append(t, Buffer.from(tokens.buffer, tokens.byteOffset, tokens.byteLength), true);
    this.append(m, Buffer.from(mask.buffer, mask.byteOffset, mask.byteLength), false);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(tokens.length);
    this.append(l, len, false);
    this.examples++;
    this.tokens += tokens.length;
  }

  /** Flushes and closes the files; returns the finished part. */
  close(): ShardPart {
    if (!this.closed) {
      this.closed = true;
      try {
        for (const f of this.files) if (f.used > 0) writeSync(f.fd, f.buf, 0, f.used);
      } finally {
        for (const f of this.files) closeSync(f.fd);
      }
    }
    return { ...this.part, examples: this.examples, tokens: this.tokens };
  }

  /** Removes the part's files (after assembly, or on failure). */
  static remove(part: Omit<ShardPart, 'examples' | 'tokens'>): void {
    for (const p of [part.tokensPath, part.maskPath, part.lengthsPath]) rmSync(p, { force: true });
  }

  private append(f: { fd: number; buf: Buffer; used: number }, data: Buffer, u32: boolean): void {
    if (u32 && !LITTLE_ENDIAN) data = Buffer.from(data).swap32();
    if (f.used + data.length > f.buf.length) {
      writeSync(f.fd, f.buf, 0, f.used);
      f.used = 0;
      if (data.length > f.buf.length) {
        writeSync(f.fd, data);
        return;
      }
    }
    data.copy(f.buf, f.used);
    f.used += data.length;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Concatenates `parts` (in order) into the shard at `path`: written to a temp name in
 * the same folder, fsynced, renamed. Returns the shard's size in bytes.
 */
export function assembleShard(path: string, parts: ShardPart[], opts: { preference?: boolean } = {}): number {
  const examples = parts.reduce((n, p) => n + p.examples, 0);
  const tokens = parts.reduce((n, p) => n + p.tokens, 0);
  if (examples === 0) throw new Error('a shard must hold at least one example');
  const tokensOffset = HEADER_BYTES;
  const maskOffset = align8(tokensOffset + tokens * 4);
  const offsetsOffset = align8(maskOffset + tokens);
  const size = offsetsOffset + (examples + 1) * 8;
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(1, 8);
  header.writeUInt32LE(4, 12);
  header.writeBigUInt64LE(BigInt(tokens), 16);
  header.writeBigUInt64LE(BigInt(examples), 24);
  header.writeBigUInt64LE(BigInt(tokensOffset), 32);
  header.writeBigUInt64LE(BigInt(maskOffset), 40);
  header.writeBigUInt64LE(BigInt(offsetsOffset), 48);
  // flags: bit 0 = a preference shard, two examples (chosen, rejected) per pair.
  header.writeBigUInt64LE(opts.preference ? 1n : 0n, 56);
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'w');
  try {
    writeSync(fd, header, 0, HEADER_BYTES, 0);
    let at = tokensOffset;
    for (const p of parts) at += copyInto(fd, p.tokensPath, at);
    writeSync(fd, Buffer.alloc(maskOffset - at), 0, maskOffset - at, at);
    at = maskOffset;
    for (const p of parts) at += copyInto(fd, p.maskPath, at);
    writeSync(fd, Buffer.alloc(offsetsOffset - at), 0, offsetsOffset - at, at);
    at = offsetsOffset;
    // Offsets: a running sum of the parts' example lengths, written 8 KiB at a time.
    const out = Buffer.alloc(8192);
    let used = 8; // offsets[0] = 0, already zero
    let total = 0n;
    const lengths = Buffer.allocUnsafe(FLUSH_BYTES);
    for (const p of parts) {
      const lfd = openSync(p.lengthsPath, 'r');
      try {
        for (let n = readSync(lfd, lengths, 0, lengths.length, null); n > 0; n = readSync(lfd, lengths, 0, lengths.length, null)) {
          for (let i = 0; i < n; i += 4) {
            total += BigInt(lengths.readUInt32LE(i));
            out.writeBigUInt64LE(total, used);
            used += 8;
            if (used === out.length) {
              writeSync(fd, out, 0, used, at);
              at += used;
              used = 0;
            }
          }
        }
      } finally {
        closeSync(lfd);
      }
    }
    writeSync(fd, out, 0, used, at);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, path);
  } catch (error) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(temp, { force: true });
    throw error;
  }
  return size;
}

/**
 * Writes `examples` as one shard at `path` (through a single part in the shard's
 * folder). For callers holding examples in memory or an iterator; datasets go
 * through `tokenizeToShard`, which writes parts in parallel.
 */
export function writeShard(
  path: string,
  examples: Iterable<{ tokens: Uint32Array; mask: Uint8Array }>,
  opts: { preference?: boolean } = {},
): { examples: number; tokens: number; bytes: number } {
  const stem = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}`);
  const files = { tokensPath: `${stem}.tokens`, maskPath: `${stem}.mask`, lengthsPath: `${stem}.lengths` };
  const writer = new ShardPartWriter(files);
  try {
    for (const e of examples) writer.add(e.tokens, e.mask);
    const part = writer.close();
    return { examples: part.examples, tokens: part.tokens, bytes: assembleShard(path, [part], opts) };
  } catch (error) {
    try {
      writer.close();
    } catch {
      // the first error is the one worth reporting
    }
    throw error;
  } finally {
    ShardPartWriter.remove(files);
  }
}

function copyInto(fd: number, from: string, position: number): number {
  const src = openSync(from, 'r');
  const buf = Buffer.allocUnsafe(FLUSH_BYTES);
  let copied = 0;
  try {
    for (let n = readSync(src, buf, 0, buf.length, null); n > 0; n = readSync(src, buf, 0, buf.length, null)) {
      writeSync(fd, buf, 0, n, position + copied);
      copied += n;
    }
  } finally {
    closeSync(src);
  }
  return copied;
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}
