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

