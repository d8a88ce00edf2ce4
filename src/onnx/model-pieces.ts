/**
 * Encodes a model whose tensors may still point into the source model's external data files (as
 * parseModel leaves them) into the new .onnx protobuf plus a plan for each new data file: a list of
 * pieces that are either bytes in memory or byte ranges to copy from a source file. Untouched
 * weights are therefore copied, never decoded or held in memory; Node streams the ranges from disk
 * (node/model-stream.ts), a browser can concatenate Blob slices. Platform neutral.
 */
import { checkExternalLocation, externalRef, tensorBytes, type OnnxModel } from './model-io';
import { DataLocation, DataType, encodeMessage, mapTensors, onnxTypes, tensorByteLength, type TensorProto, type TensorSite } from './proto';

export type DataPiece =
  | { kind: 'bytes'; bytes: Uint8Array }
  /** Copy `length` bytes at `offset` of the source model's external file `location`. */
  | { kind: 'source'; location: string; offset: number; length: number };

export interface DataFilePlan {
  /** File name relative to the .onnx file. */
  location: string;
  size: number;
  pieces: DataPiece[];
}

export interface ModelPieces {
  model: Uint8Array;
  dataFiles: DataFilePlan[];
}

export interface PieceOptions {
  /** Without it every tensor is written inline, and every tensor must have its bytes in memory. */
  externalData?: {
    /** First data file; further files get `_1`, `_2`, ... appended (`model.onnx_data_1`). */
    location: string;
    /** Initializers of at least this many bytes go to the data files (default 1024). */
    thresholdBytes?: number;
    /** Offsets are multiples of this (default 4096). */
    alignment?: number;
    /** Start a new file before one would grow past this (default 2 GiB - 1: one ArrayBuffer in browsers). */
    maxFileBytes?: number;
  };
}

/** Where an unresolved external tensor's bytes are in the source files. */
export function externalSource(tensor: TensorProto): { location: string; offset: number; length: number } | undefined {
  if (tensor.data_location !== DataLocation.EXTERNAL || tensor.raw_data) return undefined;
  const { location, offset, length: stored } = externalRef(tensor);
  checkExternalLocation(location);
  const length = stored ?? tensorByteLength(tensor.data_type ?? DataType.UNDEFINED, tensor.dims ?? []);
  if (length === undefined) throw new Error(`Tensor "${tensor.name ?? ''}" has no external length and data type ${tensor.data_type} has no fixed size`);
  return { location, offset, length };
}

const DATA_FIELDS = ['raw_data', 'float_data', 'int32_data', 'string_data', 'int64_data', 'double_data', 'uint64_data', 'data_location', 'external_data'] as const;

export function encodeModelPieces(model: OnnxModel, options: PieceOptions = {}): ModelPieces {
  const external = options.externalData;
  if (external) checkExternalLocation(external.location);
  const threshold = external?.thresholdBytes ?? 1024;
  const alignment = external?.alignment ?? 4096;
  const maxFileBytes = external?.maxFileBytes ?? 2 ** 31 - 1;
  const files: DataFilePlan[] = [];
  let zeros = new Uint8Array(0);

  const place = (length: number, piece: DataPiece): { location: string; offset: number } => {
    let file = files[files.length - 1];
    let offset = file ? Math.ceil(file.size / alignment) * alignment : 0;
    if (!file || (file.size > 0 && offset + length > maxFileBytes)) {
      file = { location: files.length ? `${external!.location}_${files.length}` : external!.location, size: 0, pieces: [] };
      files.push(file);
      offset = 0;
    }
    if (offset > file.size) {
      if (zeros.length < alignment) zeros = new Uint8Array(alignment);
      file.pieces.push({ kind: 'bytes', bytes: zeros.subarray(0, offset - file.size) });
    }
    file.pieces.push(piece);
    file.size = offset + length;
    return { location: file.location, offset };
  };

  const prepared = mapTensors(model, (tensor: TensorProto, site: TensorSite) => {
    const source = externalSource(tensor);
    const length = source?.length ?? (tensor.data_type === DataType.STRING ? 0 : tensorBytes(tensor).byteLength);
    if (external && site.initializer && tensor.data_type !== DataType.STRING && length > 0 && length >= threshold) {
      const at = place(length, source ? { kind: 'source', ...source } : { kind: 'bytes', bytes: tensorBytes(tensor) });
      const copy: TensorProto = { ...tensor };
      for (const key of DATA_FIELDS) delete copy[key];
      return {
        ...copy,
        data_location: DataLocation.EXTERNAL,
        external_data: [
          { key: 'location', value: at.location },
          { key: 'offset', value: String(at.offset) },
          { key: 'length', value: String(length) },
        ],
      };
    }
    if (source) {
      throw new Error(`Tensor "${tensor.name ?? ''}" (${site.path}) must be written inline, but its bytes are still in "${source.location}"; load them first`);
    }
    if (tensor.data_location === undefined && tensor.external_data === undefined) return tensor;
    const inline = { ...tensor };
    delete inline.data_location;
    delete inline.external_data;
    return inline;
  });
  return { model: encodeMessage(onnxTypes.ModelProto, prepared), dataFiles: files };
}
