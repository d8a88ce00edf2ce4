import { GGMLQuantizationType, GGUFValueType, serializeGgufMetadata } from '@huggingface/gguf';
import type { GGUFTypedMetadata } from '@huggingface/gguf';

export interface GgufWriterTensor {
  name: string;
  /** GGUF order (ne0 first), as in GgufTensorInfo.shape. */
  shape: number[];
  type: GGMLQuantizationType;
  /** Encoded tensor data (see encodeF32 / encodeF16 / encodeBf16). */
  data: Uint8Array;
}

/** A tensor's entry in the GGUF header; its data is supplied separately (see ggufLayout). */
export interface GgufTensorEntry {
  name: string;
  /** GGUF order (ne0 first). */
  shape: number[];
  type: GGMLQuantizationType;
  byteLength: number;
}

export interface GgufLayout {
  /** Metadata, tensor infos and padding: the file's first `header.length` bytes. */
  header: Uint8Array;
  /** Absolute file offset of each tensor's data, in the order given. */
  offsets: number[];
  /** Total file size. */
  size: number;
}

/**
 * The header of a little-endian GGUF v3 file and where each tensor's data goes, so large files can be
 * written tensor by tensor. The metadata is written by @huggingface/gguf's serializer; its
 * version/tensor_count/kv_count entries are replaced, other keys are written in order.
 */
export function ggufLayout(metadata: GGUFTypedMetadata, tensors: readonly GgufTensorEntry[]): GgufLayout {
  const alignment = Number(metadata['general.alignment']?.value ?? 32);
  // alignment 1: the serializer pads after the KVs, but the tensor infos must come first
  const kvPart = serializeGgufMetadata(
    {
      ...metadata,
      version: { value: 3, type: GGUFValueType.UINT32 },
      tensor_count: { value: BigInt(tensors.length), type: GGUFValueType.UINT64 },
      kv_count: { value: 0n, type: GGUFValueType.UINT64 },
    } as GGUFTypedMetadata,
    { alignment: 1 },
  );

  const encoder = new TextEncoder();
  const infoChunks: Uint8Array[] = [];
  let dataSize = 0;
  const dataOffsets: number[] = [];
  for (const t of tensors) {
    const name = encoder.encode(t.name);
    const info = new Uint8Array(8 + name.length + 4 + 8 * t.shape.length + 4 + 8);
    const view = new DataView(info.buffer);
    view.setBigUint64(0, BigInt(name.length), true);
    info.set(name, 8);
    let o = 8 + name.length;
    view.setUint32(o, t.shape.length, true);
    o += 4;
    for (const d of t.shape) {
      view.setBigUint64(o, BigInt(d), true);
      o += 8;
    }
    view.setUint32(o, t.type, true);
    dataSize = pad(dataSize, alignment);
    dataOffsets.push(dataSize);
    view.setBigUint64(o + 4, BigInt(dataSize), true);
    dataSize += t.byteLength;
    infoChunks.push(info);
  }

  const headerSize = pad(kvPart.length + infoChunks.reduce((s, c) => s + c.length, 0), alignment);
  const header = new Uint8Array(headerSize);
  header.set(kvPart, 0);
  let o = kvPart.length;
  for (const c of infoChunks) {
    header.set(c, o);
    o += c.length;
  }
  return { header, offsets: dataOffsets.map((d) => headerSize + d), size: headerSize + dataSize };
}

/** Writes a whole little-endian GGUF v3 file in memory. */
export function writeGguf(metadata: GGUFTypedMetadata, tensors: GgufWriterTensor[]): Uint8Array {
  const layout = ggufLayout(metadata, tensors.map((t) => ({ ...t, byteLength: t.data.byteLength })));
  const out = new Uint8Array(layout.size);
  out.set(layout.header, 0);
  tensors.forEach((t, i) => out.set(t.data, layout.offsets[i]!));
  return out;
}

function pad(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

export function encodeF32(values: Float32Array): Uint8Array {
  return new Uint8Array(values.slice().buffer);
}

export function encodeF16(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
  return new Uint8Array(out.buffer);
}

/** Round-to-nearest-even truncation of the float32 bits (NaN kept quiet). */
export function encodeBf16(values: Float32Array): Uint8Array {
  const bits = new Uint32Array(values.slice().buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    out[i] = Number.isNaN(values[i]) ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float → IEEE half bits, round-to-nearest-even, with subnormals, overflow to ±inf and NaN. */
export function f32ToF16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half: shift the full 24-bit significand down to units of 2^-24
    const shift = 14 - e;
    if (shift > 24) return sign;
    const full = mant | 0x800000;
    const kept = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return (sign | kept) + (rest > half || (rest === half && kept & 1) ? 1 : 0);
  }
  const kept = sign | (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // a carry out of the mantissa correctly bumps the exponent (up to infinity)
  return kept + (rest > 0x1000 || (rest === 0x1000 && kept & 1) ? 1 : 0);
}
