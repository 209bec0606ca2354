import fs from 'node:fs/promises';
import path from 'node:path';

export interface TensorInfo {
  dtype: string;
  shape: number[];
  file: string;
}

/**
 * Reads the JSON header of a `.safetensors` file: 8 bytes little-endian header length,
 * then that many bytes of JSON mapping tensor names to {dtype, shape, data_offsets}.
 * Only the header is read, so inspecting a multi-GB model costs a few KB of I/O.
 * (No maintained JS library reads just the header without pulling in a tensor runtime.)
 */
export async function readSafetensorsHeader(file: string): Promise<Map<string, TensorInfo>> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const lenBuf = Buffer.alloc(8);
    await handle.read(lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (size < 8 || headerLen <= 0 || headerLen > 100 * 1024 * 1024 || 8 + headerLen > size) {
      throw new Error(`${path.basename(file)} is not a safetensors file (bad header length)`);
    }
    const headerBuf = Buffer.alloc(headerLen);
    await handle.read(headerBuf, 0, headerLen, 8);
    let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch {
      throw new Error(`${path.basename(file)} is not a safetensors file (header is not JSON)`);
    }
    const tensors = new Map<string, TensorInfo>();
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      tensors.set(name, { dtype: info.dtype, shape: info.shape, file });
    }
    return tensors;
  } finally {
    await handle.close();
  }
}
