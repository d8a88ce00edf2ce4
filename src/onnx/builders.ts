/**
 * Helpers to build ONNX graphs in the plain representation of ./proto. They produce the same shape
 * decoding yields (empty lists left out, floats rounded to float32), so a built model deep-equals
 * its own decoded encoding. Tensors built from typed arrays are zero-copy views of those arrays
 * (raw_data is little-endian, like every platform this app runs on).
 */
import {
  AttributeType,
  DataType,
  tensorByteLength,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type SparseTensorProto,
  type StringStringEntryProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from './proto';

export { DataType } from './proto';

/** IR version written by default: IR 10 (ONNX 1.16), readable by every onnxruntime this app uses. */
const DEFAULT_IR_VERSION = 10;

const utf8 = new TextEncoder();

/** `{ key: value }` if the list is non-empty, else nothing: decoding leaves empty lists out too. */
const list = <K extends string, T>(key: K, items: readonly T[]) => (items.length ? { [key]: [...items] } : {}) as { [P in K]?: T[] };

export function tensorFromBytes(name: string, dims: readonly number[], dataType: number, bytes: Uint8Array): TensorProto {
  const expected = tensorByteLength(dataType, dims);
  if (expected === undefined) throw new Error(`Tensor "${name}": data type ${dataType} has no raw byte form`);
  if (bytes.byteLength !== expected) {
    throw new Error(`Tensor "${name}": dims [${dims}] of data type ${dataType} need ${expected} bytes, got ${bytes.byteLength}`);
  }
  return { name, ...list('dims', dims), data_type: dataType, raw_data: bytes };
}

const bytesOf = (data: ArrayBufferView) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

export function tensorFromFloat32(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  return tensorFromBytes(name, dims, DataType.FLOAT, bytesOf(data));
}

/** FLOAT16 tensor from IEEE half-precision bit patterns. */
export function tensorFromFloat16Bits(name: string, dims: readonly number[], bits: Uint16Array): TensorProto {
  return tensorFromBytes(name, dims, DataType.FLOAT16, bytesOf(bits));
}

export function tensorFromInt64(name: string, dims: readonly number[], data: BigInt64Array | readonly number[]): TensorProto {
  const values = data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(v));
  return tensorFromBytes(name, dims, DataType.INT64, bytesOf(values));
}

/** An attribute value whose type is given explicitly; build one with {@link attr}. */
export type TypedAttribute = Omit<AttributeProto, 'name' | 'type'> & { type: AttributeType };

/**
 * Attribute values for {@link node}: integers (number or bigint) become INT, integer arrays INTS,
 * strings STRING, string arrays STRINGS, a TensorProto TENSOR. Everything else, floats included,
 * is marked with {@link attr} (or {@link f}), because `1` cannot tell whether it means 1 or 1.0.
 */
export type AttrValue = number | bigint | string | readonly (number | bigint)[] | readonly string[] | TensorProto | TypedAttribute;

export const attr = {
  float: (value: number): TypedAttribute => ({ type: AttributeType.FLOAT, f: Math.fround(value) }),
  floats: (values: readonly number[]): TypedAttribute => ({ type: AttributeType.FLOATS, ...list('floats', values.map(Math.fround)) }),
  ints: (values: readonly (number | bigint)[]): TypedAttribute => ({ type: AttributeType.INTS, ...list('ints', values) }),
  strings: (values: readonly string[]): TypedAttribute => ({ type: AttributeType.STRINGS, ...list('strings', values.map((s) => utf8.encode(s))) }),
  tensors: (values: readonly TensorProto[]): TypedAttribute => ({ type: AttributeType.TENSORS, ...list('tensors', values) }),
  graph: (value: GraphProto): TypedAttribute => ({ type: AttributeType.GRAPH, g: value }),
  graphs: (values: readonly GraphProto[]): TypedAttribute => ({ type: AttributeType.GRAPHS, ...list('graphs', values) }),
  sparseTensor: (value: SparseTensorProto): TypedAttribute => ({ type: AttributeType.SPARSE_TENSOR, sparse_tensor: value }),
  sparseTensors: (values: readonly SparseTensorProto[]): TypedAttribute => ({ type: AttributeType.SPARSE_TENSORS, ...list('sparse_tensors', values) }),
  typeProto: (value: TypeProto): TypedAttribute => ({ type: AttributeType.TYPE_PROTO, tp: value }),
  typeProtos: (values: readonly TypeProto[]): TypedAttribute => ({ type: AttributeType.TYPE_PROTOS, ...list('type_protos', values) }),
};

/** Shorthand for `attr.float`. */
export const f = attr.float;

function makeAttribute(name: string, value: AttrValue): AttributeProto {
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (typeof value === 'number' && !Number.isInteger(value)) {
      throw new Error(`Attribute "${name}": ${value} is not an integer; mark float attributes with f(${value})`);
    }
    return { name, type: AttributeType.INT, i: value };
  }
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: utf8.encode(value) };
  if (Array.isArray(value)) {
    if (value.length === 0) throw new Error(`Attribute "${name}": an empty list has no type; use attr.ints([]), attr.floats([]) or attr.strings([])`);
    if (value.every((v) => typeof v === 'string')) return { name, ...attr.strings(value) };
    if (value.every((v) => typeof v === 'bigint' || Number.isInteger(v))) return { name, ...attr.ints(value) };
    throw new Error(`Attribute "${name}": list is neither all integers nor all strings; mark float lists with attr.floats()`);
  }
  if ('type' in value) return { name, ...value };
  return { name, type: AttributeType.TENSOR, t: value as TensorProto };
}

export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  name: string,
  attrs: Record<string, AttrValue> = {},
  domain?: string,
): NodeProto {
  const attribute = Object.entries(attrs).map(([key, value]) => makeAttribute(key, value));
  return {
    ...list('input', inputs),
    ...list('output', outputs),
    name,
    op_type: opType,
    ...(domain ? { domain } : {}),
    ...list('attribute', attribute),
  };
}

/** A tensor value_info. Number dims are dim_value, string dims dim_param; `null` dims mean unknown rank. */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[] | null): ValueInfoProto {
  const dim = (dims ?? []).map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d }));
  return { name, type: { tensor_type: { elem_type: elemType, ...(dims ? { shape: list('dim', dim) } : {}) } } };
}

export function metadataProps(entries: Record<string, string>): StringStringEntryProto[] {
  return Object.entries(entries).map(([key, value]) => ({ key, value }));
}

export interface ModelSpec {
  graph: GraphProto;
  opsetImports: readonly { domain: string; version: number }[];
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

export function makeModel(spec: ModelSpec): ModelProto {
  return {
    ir_version: spec.irVersion ?? DEFAULT_IR_VERSION,
    ...list('opset_import', spec.opsetImports.map(({ domain, version }) => ({ domain, version }))),
    producer_name: spec.producerName ?? 'persona-pruning-studio',
    ...(spec.producerVersion !== undefined ? { producer_version: spec.producerVersion } : {}),
    ...(spec.docString !== undefined ? { doc_string: spec.docString } : {}),
    graph: spec.graph,
    ...list('metadata_props', metadataProps(spec.metadata ?? {})),
  };
}
