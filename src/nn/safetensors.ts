import { NnError } from "./errors.js";
import type { Shape } from "./graph.js";

/** One float32 tensor of a safetensors file. */
export interface SafetensorsEntry {
  name: string;
  shape: Shape;
  data: Float32Array;
}

/**
 * safetensors layout (https://github.com/huggingface/safetensors): 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the raw bytes.
 */
export function writeSafetensors(entries: readonly SafetensorsEntry[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const e of entries) {
    const bytes = e.data.length * 4;
    header[e.name] = { dtype: "F32", shape: [...e.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference implementation does.
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let cursor = 8 + headerBytes.length;
  for (const e of entries) {
    const le = new Uint8Array(e.data.length * 4);
    const view = new DataView(le.buffer);
    for (let i = 0; i < e.data.length; i++) view.setFloat32(i * 4, e.data[i]!, true);
    out.set(le, cursor);
    cursor += le.length;
  }
  return out;
}

export function readSafetensors(bytes: Uint8Array): { tensors: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new NnError("checkpoint_invalid", "safetensors: file shorter than its header length", {});
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw new NnError("checkpoint_invalid", "safetensors: header runs past the end of the file", { headerLength });
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    throw new NnError("checkpoint_invalid", `safetensors: header is not JSON (${(error as Error).message})`, {});
  }
  const base = 8 + headerLength;
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [begin, end] } = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (dtype !== "F32") throw new NnError("checkpoint_invalid", `safetensors: tensor "${name}" has dtype ${dtype}; only F32 is supported`, { name, dtype });
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * 4 || base + end > bytes.length) throw new NnError("checkpoint_invalid", `safetensors: tensor "${name}" has inconsistent offsets`, { name });
    const data = new Float32Array(count);
    const dv = new DataView(bytes.buffer, bytes.byteOffset + base + begin, end - begin);
    for (let i = 0; i < count; i++) data[i] = dv.getFloat32(i * 4, true);
    tensors.set(name, { name, shape, data });
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string> | undefined) ?? {} };
}
