/**
 * Decoding and encoding whole ONNX models, including external data. Platform neutral: works on
 * byte arrays only; src/node/model-files.ts adds file access for Node.
 *
 * In-memory policy for external data: after decoding, a tensor that was stored externally looks
 * exactly like an inline one: `raw_data` is a zero-copy view into the external file's bytes and
 * `data_location`/`external_data` are removed. Where the bytes go is decided again on encode.
 *
 * External file names: Optimum exports use `model.onnx_data`, onnxruntime-genai uses
 * `model.onnx.data`; large exports may split weights over several files (`model.onnx_data_1`, ...).
 * Reading needs no convention: every tensor names its own file. Writing uses the single location the
 * caller passes (see {@link defaultExternalDataName}).
 */
import {
  DataLocation,
  DataType,
  bytesPerElement,
  decodeMessage,
  encodeMessage,
  mapTensors,
  onnxTypes,
  tensorByteLength,
  type ModelProto,
  type TensorProto,
  type TensorSite,
} from './proto';

export type OnnxModel = ModelProto;

/** Returns the bytes of an external data file by the `location` tensors name, or undefined if absent. */
export type ExternalFiles = (location: string) => Uint8Array | undefined;

export interface ExternalDataOptions {
  /** File name relative to the .onnx file, stored in every external tensor's `location`. */
  location: string;
  /**
   * Initializers with at least this many bytes go to the external file (default 1024, as onnx
   * does). Keep small tensors inline: onnxruntime's shape inference cannot read external data for
   * shape-like inputs such as Reshape's shape or Pad's pads.
   */
  thresholdBytes?: number;
  /** Offsets are multiples of this (default 4096, the page size, so runtimes can mmap tensors). */
  alignment?: number;
}

export interface EncodeOptions {
  externalData?: ExternalDataOptions;
}

export interface EncodedModel {
  model: Uint8Array;
  /**
   * The external data file, present when at least one tensor was moved out. `chunks` are the
   * tensors' own byte views plus zero padding, in file order; write them one after another.
   */
  external?: { location: string; size: number; chunks: Uint8Array[] };
}

/** Protobuf cannot serialize or parse a message of 2 GiB or more. */
const MAX_PROTOBUF_BYTES = 2 ** 31 - 1;

/** `model.onnx` -> `model.onnx_data` (Optimum's convention); any folder part is dropped. */
export function defaultExternalDataName(modelFileName: string): string {
  return `${modelFileName.split(/[\\/]/).pop()}_data`;
}

/** Rejects external data locations that are absolute or climb out of the model's folder. */
export function checkExternalLocation(location: string): void {
  const parts = location.split(/[\\/]/);
  if (!location || /^([\\/]|[a-zA-Z]:)/.test(location) || parts.includes('..')) {
    throw new Error(`External data location "${location}" must be a relative path inside the model's folder`);
  }
}

/** Decodes a model and resolves all external tensors against `externalFiles`. */
export function decodeModel(bytes: Uint8Array, externalFiles?: ExternalFiles): OnnxModel {
  return resolveExternalData(parseModel(bytes), externalFiles);
}

/**
 * Decodes the protobuf only. External tensors keep their `external_data` references; pass the
 * result to {@link externalDataLocations} to learn which files to fetch, then to
 * {@link resolveExternalData}.
 */
export function parseModel(bytes: Uint8Array): OnnxModel {
  let model: OnnxModel;
  try {
    model = decodeMessage<OnnxModel>(onnxTypes.ModelProto, bytes);
  } catch (error) {
    throw new Error(`Not a valid ONNX model: ${recognizeOtherFormat(bytes) ?? (error as Error).message}`, { cause: error });
  }
  // Protobuf decodes many byte strings "successfully" into unknown fields; a real model has both.
  if (model.ir_version === undefined || model.graph === undefined) {
    throw new Error(`Not a valid ONNX model: ${recognizeOtherFormat(bytes) ?? 'it has no ir_version or graph'}`);
  }
  return model;
}

/** Common wrong inputs, named so the error tells the user what they actually loaded. */
function recognizeOtherFormat(bytes: Uint8Array): string | undefined {
  const head = new TextDecoder().decode(bytes.subarray(0, 64));
  if (head.startsWith('version https://git-lfs')) return 'this is a Git LFS pointer file, not the model itself';
  if (head.startsWith('GGUF')) return 'this is a GGUF file';
  if (/^\s*<(!doctype|html)/i.test(head)) return 'this is an HTML page (wrong URL?)';
  return undefined;
}

/** The distinct external files the model's unresolved tensors refer to, in first-use order. */
export function externalDataLocations(model: OnnxModel): string[] {
  const locations = new Set<string>();
  mapTensors(model, (tensor, site) => {
    if (tensor.data_location === DataLocation.EXTERNAL) locations.add(externalRef(tensor, site).location);
    return tensor;
  });
  return [...locations];
}

/**
 * Points every external tensor's `raw_data` at its bytes inside the external file (a subarray, no
 * copy) and drops its `data_location`/`external_data`. Modifies `model` in place (it is meant for
 * the fresh result of {@link parseModel}) and returns it.
 */
export function resolveExternalData(model: OnnxModel, externalFiles?: ExternalFiles): OnnxModel {
  mapTensors(model, (tensor, site) => {
    if (tensor.data_location !== DataLocation.EXTERNAL) return tensor;
    const { location, offset, length } = externalRef(tensor, site);
    const what = describeTensor(tensor, site);
    const file = externalFiles?.(location);
    if (!file) {
      throw new Error(
        `${what} is stored in external data file "${location}", which was not found` +
          (externalFiles ? '' : ' (no external data files were provided)'),
      );
    }
    const expected = tensor.segment ? undefined : tensorByteLength(tensor.data_type ?? DataType.UNDEFINED, tensor.dims ?? []);
    const size = length ?? expected;
    if (size === undefined) throw new Error(`${what} in "${location}" has no length and data type ${tensor.data_type} has no fixed size`);
    if (expected !== undefined && size !== expected) {
      throw new Error(`${what} in "${location}" has length ${size}, but dims [${tensor.dims ?? []}] of data type ${tensor.data_type} need ${expected} bytes`);
    }
    if (offset + size > file.byteLength) {
      throw new Error(
        `${what} needs bytes ${offset}..${offset + size} of "${location}", but that file has only ${file.byteLength} bytes (truncated or wrong data file?)`,
      );
    }
    tensor.raw_data = file.subarray(offset, offset + size);
    delete tensor.data_location;
    delete tensor.external_data;
    return tensor;
  });
  return model;
}

function describeTensor(tensor: TensorProto, site?: TensorSite): string {
  return tensor.name || !site ? `Tensor "${tensor.name ?? ''}"` : `Unnamed tensor at ${site.path}`;
}

/** An external tensor's `location`, `offset` (default 0) and `length` (absent when not stored), validated. */
export function externalRef(tensor: TensorProto, site?: TensorSite): { location: string; offset: number; length?: number } {
  const entries = new Map((tensor.external_data ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location) throw new Error(`${describeTensor(tensor, site)} is marked EXTERNAL but names no location`);
  const number = (key: string): number | undefined => {
    const text = entries.get(key);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) throw new Error(`${describeTensor(tensor, site)} has an invalid external ${key} "${text}"`);
    return value;
  };
  return { location, offset: number('offset') ?? 0, length: number('length') };
}

/**
 * The raw little-endian bytes of a tensor: `raw_data` as is (no copy), or, for tensors using the
 * typed fields (`float_data`, `int32_data`, ...), a newly built buffer in raw_data layout. Throws for
 * STRING tensors and for unresolved external tensors.
 */
export function tensorBytes(tensor: TensorProto): Uint8Array {
  if (tensor.raw_data) return tensor.raw_data;
  if (tensor.data_location === DataLocation.EXTERNAL) {
    throw new Error(`Tensor "${tensor.name ?? ''}" is stored externally and its data file has not been loaded`);
  }
  const type = tensor.data_type ?? DataType.UNDEFINED;
  switch (type) {
    case DataType.FLOAT:
    case DataType.COMPLEX64:
      return pack(tensor.float_data, 4, (v, o, x) => v.setFloat32(o, x, true));
    case DataType.DOUBLE:
    case DataType.COMPLEX128:
      return pack(tensor.double_data, 8, (v, o, x) => v.setFloat64(o, x, true));
    case DataType.INT64:
      return pack(tensor.int64_data, 8, (v, o, x) => v.setBigInt64(o, BigInt(x), true));
    case DataType.UINT64:
      return pack(tensor.uint64_data, 8, (v, o, x) => v.setBigUint64(o, BigInt(x), true));
    case DataType.UINT32:
      return pack(tensor.uint64_data, 4, (v, o, x) => v.setUint32(o, Number(x), true));
    case DataType.INT32:
      return pack(tensor.int32_data, 4, (v, o, x) => v.setInt32(o, x, true));
    case DataType.STRING:
      throw new Error(`Tensor "${tensor.name ?? ''}" is a STRING tensor, which has no raw byte form`);
    default:
      // 16-bit types (fp16/bf16 bit patterns) take 2 bytes per int32_data entry; 8-bit types one
      // byte; packed 4-/2-bit types also one byte per entry, each entry holding 2 or 4 elements.
      return bytesPerElement(type) === 2
        ? pack(tensor.int32_data, 2, (v, o, x) => v.setUint16(o, x, true))
        : pack(tensor.int32_data, 1, (v, o, x) => v.setUint8(o, x));
  }
}

function pack<T>(values: T[] | undefined, width: number, set: (view: DataView, offset: number, value: T) => void): Uint8Array {
  const list = values ?? [];
  const bytes = new Uint8Array(list.length * width);
  const view = new DataView(bytes.buffer);
  list.forEach((value, i) => set(view, i * width, value));
  return bytes;
}

const DATA_FIELDS = ['raw_data', 'float_data', 'int32_data', 'string_data', 'int64_data', 'double_data', 'uint64_data', 'data_location', 'external_data'] as const;

/** A copy of the tensor with its data and storage fields removed. */
function withoutData(tensor: TensorProto): TensorProto {
  const copy = { ...tensor };
  for (const key of DATA_FIELDS) delete copy[key];
  return copy;
}

/**
 * Serializes the model. Without `externalData` every tensor stays inside the protobuf. With it,
 * initializers (main graph and subgraphs) of at least `thresholdBytes` are moved to the external
 * file; attribute tensors stay inline, as with onnx's default, since not every runtime resolves
 * external data there. The caller's model is never modified: moved tensors are copies in the
 * encoded protobuf only, and the returned chunks are the tensors' existing byte views.
 */
export function encodeModel(model: OnnxModel, options: EncodeOptions = {}): EncodedModel {
  const external = options.externalData;
  const threshold = external?.thresholdBytes ?? 1024;
  const alignment = external?.alignment ?? 4096;
  if (external) {
    checkExternalLocation(external.location);
    if (!Number.isInteger(alignment) || alignment < 1) throw new Error(`External data alignment must be a positive integer, got ${alignment}`);
  }

  const chunks: Uint8Array[] = [];
  let size = 0;
  let inlineBytes = 0;
  let zeros = new Uint8Array(0);
  const prepared = mapTensors(model, (tensor, site) => {
    const wasExternal = tensor.data_location === DataLocation.EXTERNAL || tensor.external_data !== undefined;
    if (tensor.data_location === DataLocation.EXTERNAL && !tensor.raw_data) {
      throw new Error(`${describeTensor(tensor, site)} still refers to external data that was never loaded; decode the model with its external files`);
    }
    if (external && site.initializer && tensor.data_type !== DataType.STRING) {
      const bytes = tensorBytes(tensor);
      if (bytes.byteLength > 0 && bytes.byteLength >= threshold) {
        const offset = Math.ceil(size / alignment) * alignment;
        if (offset > size) {
          if (zeros.length < alignment) zeros = new Uint8Array(alignment);
          chunks.push(zeros.subarray(0, offset - size));
        }
        chunks.push(bytes);
        size = offset + bytes.byteLength;
        return {
          ...withoutData(tensor),
          data_location: DataLocation.EXTERNAL,
          external_data: [
            { key: 'location', value: external.location },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(bytes.byteLength) },
          ],
        };
      }
    }
    inlineBytes += tensor.raw_data?.byteLength ?? 0;
    if (!wasExternal) return tensor;
    const inline = { ...tensor };
    delete inline.data_location;
    delete inline.external_data;
    return inline;
  });

  // Checked before encoding too, so an oversized model fails fast instead of after copying GBs.
  if (inlineBytes > MAX_PROTOBUF_BYTES) throw tooLarge(inlineBytes);
  const bytes = encodeMessage(onnxTypes.ModelProto, prepared);
  if (bytes.byteLength > MAX_PROTOBUF_BYTES) throw tooLarge(bytes.byteLength);
  return external && chunks.length > 0 ? { model: bytes, external: { location: external.location, size, chunks } } : { model: bytes };
}

function tooLarge(bytes: number): Error {
  const gib = (bytes / 2 ** 30).toFixed(2);
  return new Error(
    `The model protobuf would be ${gib} GiB, over protobuf's 2 GiB limit; ` +
      `encode with { externalData: { location: defaultExternalDataName('model.onnx') } } to keep the weights in a separate file`,
  );
}
