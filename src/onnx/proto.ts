/**
 * ONNX message types (protobufjs reflection over {@link ONNX_SCHEMA}) and the plain-object
 * representation the rest of the app works with.
 *
 * Representation policy:
 * - Field names are the schema's snake_case names (`op_type`, `raw_data`, `opset_import`).
 * - Messages are plain objects holding only the fields that are set; an empty repeated field is
 *   left out, so read repeated fields as `x.node ?? []`.
 * - 64-bit integers: protobufjs yields `Long` objects; decoding turns each into a `number` when it is
 *   a safe integer and into a `bigint` otherwise (`Int64`), so values like INT64_MAX in Slice-style
 *   attributes or `int64_data` survive a round trip exactly. Encoding accepts either. A few fields
 *   that are sizes or versions (`dims`, `dim_value`, `ir_version`, opset `version`) are typed
 *   `number`; decoding rejects a model where one of them is not a safe integer.
 * - `bytes` fields (`raw_data`, `s`, `string_data`) are views into the decoded input, never copies.
 * - Fields this schema does not know (a newer ONNX) are kept as raw bytes in `$unknowns` and written
 *   back unchanged by the encoder.
 */
import protobuf from 'protobufjs';
import { ONNX_SCHEMA } from './onnx-schema';

const root = protobuf.parse(ONNX_SCHEMA, { keepCase: true }).root;
root.resolveAll();

const lookup = (name: string) => root.lookupType(`onnx.${name}`);

/** protobufjs message types, for code that needs the raw codec (prefer model-io's functions). */
export const onnxTypes = {
  ModelProto: lookup('ModelProto'),
  GraphProto: lookup('GraphProto'),
  NodeProto: lookup('NodeProto'),
  AttributeProto: lookup('AttributeProto'),
  TensorProto: lookup('TensorProto'),
  SparseTensorProto: lookup('SparseTensorProto'),
  ValueInfoProto: lookup('ValueInfoProto'),
  TypeProto: lookup('TypeProto'),
  TensorShapeProto: lookup('TensorShapeProto'),
  OperatorSetIdProto: lookup('OperatorSetIdProto'),
  StringStringEntryProto: lookup('StringStringEntryProto'),
  FunctionProto: lookup('FunctionProto'),
  TrainingInfoProto: lookup('TrainingInfoProto'),
  DeviceConfigurationProto: lookup('DeviceConfigurationProto'),
  NodeDeviceConfigurationProto: lookup('NodeDeviceConfigurationProto'),
} as const;

/** `TensorProto.DataType`. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** `AttributeProto.AttributeType`. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;
export type AttributeType = (typeof AttributeType)[keyof typeof AttributeType];

/** `TensorProto.DataLocation`. */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

const BITS_PER_ELEMENT: Partial<Record<number, number>> = {
  [DataType.FLOAT]: 32,
  [DataType.UINT8]: 8,
  [DataType.INT8]: 8,
  [DataType.UINT16]: 16,
  [DataType.INT16]: 16,
  [DataType.INT32]: 32,
  [DataType.INT64]: 64,
  [DataType.BOOL]: 8,
  [DataType.FLOAT16]: 16,
  [DataType.DOUBLE]: 64,
  [DataType.UINT32]: 32,
  [DataType.UINT64]: 64,
  [DataType.COMPLEX64]: 64,
  [DataType.COMPLEX128]: 128,
  [DataType.BFLOAT16]: 16,
  [DataType.FLOAT8E4M3FN]: 8,
  [DataType.FLOAT8E4M3FNUZ]: 8,
  [DataType.FLOAT8E5M2]: 8,
  [DataType.FLOAT8E5M2FNUZ]: 8,
  [DataType.UINT4]: 4,
  [DataType.INT4]: 4,
  [DataType.FLOAT4E2M1]: 4,
  [DataType.FLOAT8E8M0]: 8,
  [DataType.UINT2]: 2,
  [DataType.INT2]: 2,
};

/**
 * Bytes one element takes in `raw_data`: fractional for the packed sub-byte types (0.5 for 4-bit,
 * 0.25 for 2-bit). Throws for STRING/UNDEFINED, which have no fixed-width encoding.
 */
export function bytesPerElement(dataType: number): number {
  const bits = BITS_PER_ELEMENT[dataType];
  if (bits === undefined) throw new Error(`ONNX data type ${dataType} has no fixed-width byte encoding`);
  return bits / 8;
}

/**
 * Byte length of a tensor's `raw_data` (sub-byte types are packed, the last byte padded), or
 * undefined for types without a fixed-width encoding (STRING, UNDEFINED, unknown codes).
 */
export function tensorByteLength(dataType: number, dims: readonly number[]): number | undefined {
  const bits = BITS_PER_ELEMENT[dataType];
  return bits === undefined ? undefined : Math.ceil((dims.reduce((n, d) => n * d, 1) * bits) / 8);
}

// ---- Typed views of the messages the app touches. -------------------------------------------

export type Int64 = number | bigint;

interface Message {
  /** Wire bytes of fields unknown to this schema, re-emitted verbatim on encode. */
  $unknowns?: Uint8Array[];
}

/** A message this module does not type in detail (training info, device configurations, ...). */
export type OpaqueMessage = Record<string, unknown>;

export interface StringStringEntryProto extends Message {
  key?: string;
  value?: string;
}

export interface OperatorSetIdProto extends Message {
  domain?: string;
  version?: number;
}

export interface TensorProto extends Message {
  dims?: number[];
  data_type?: number;
  segment?: { begin?: Int64; end?: Int64 } & Message;
  float_data?: number[];
  int32_data?: number[];
  string_data?: Uint8Array[];
  int64_data?: Int64[];
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  external_data?: StringStringEntryProto[];
  data_location?: number;
  double_data?: number[];
  uint64_data?: Int64[];
  metadata_props?: StringStringEntryProto[];
}

export interface SparseTensorProto extends Message {
  values?: TensorProto;
  indices?: TensorProto;
  dims?: number[];
}

export interface TensorShapeDimension extends Message {
  dim_value?: number;
  dim_param?: string;
  denotation?: string;
}

export interface TensorShapeProto extends Message {
  dim?: TensorShapeDimension[];
}

export interface TypeProto extends Message {
  tensor_type?: { elem_type?: number; shape?: TensorShapeProto } & Message;
  sequence_type?: { elem_type?: TypeProto } & Message;
  map_type?: { key_type?: number; value_type?: TypeProto } & Message;
  optional_type?: { elem_type?: TypeProto } & Message;
  sparse_tensor_type?: { elem_type?: number; shape?: TensorShapeProto } & Message;
  opaque_type?: { domain?: string; name?: string } & Message;
  denotation?: string;
}

export interface ValueInfoProto extends Message {
  name?: string;
  type?: TypeProto;
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
}

export interface AttributeProto extends Message {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparse_tensor?: SparseTensorProto;
  tp?: TypeProto;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  sparse_tensors?: SparseTensorProto[];
  type_protos?: TypeProto[];
}

export interface NodeProto extends Message {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute?: AttributeProto[];
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
  device_configurations?: OpaqueMessage[];
}

export interface TensorAnnotation extends Message {
  tensor_name?: string;
  quant_parameter_tensor_names?: StringStringEntryProto[];
}

export interface GraphProto extends Message {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  sparse_initializer?: SparseTensorProto[];
  doc_string?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  value_info?: ValueInfoProto[];
  quantization_annotation?: TensorAnnotation[];
  metadata_props?: StringStringEntryProto[];
}

export interface FunctionProto extends Message {
  name?: string;
  input?: string[];
  output?: string[];
  attribute?: string[];
  attribute_proto?: AttributeProto[];
  node?: NodeProto[];
  doc_string?: string;
  opset_import?: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  value_info?: ValueInfoProto[];
  metadata_props?: StringStringEntryProto[];
}

export interface ModelProto extends Message {
  ir_version?: number;
  opset_import?: OperatorSetIdProto[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: Int64;
  doc_string?: string;
  graph?: GraphProto;
  metadata_props?: StringStringEntryProto[];
  training_info?: OpaqueMessage[];
  functions?: FunctionProto[];
  configuration?: OpaqueMessage[];
}

// ---- Conversion between protobufjs objects and the plain representation. ---------------------

type AnyMessage = Record<string, unknown>;

interface FieldPlan {
  name: string;
  repeated: boolean;
  /** Set for message-typed fields. */
  type?: protobuf.Type;
  /** Set for 64-bit integer fields. */
  int64?: { unsigned: boolean; mustBeNumber: boolean; label: string };
}

const NUMBER_ONLY = new Set([
  '.onnx.TensorProto.dims',
  '.onnx.SparseTensorProto.dims',
  '.onnx.TensorShapeProto.Dimension.dim_value',
  '.onnx.ModelProto.ir_version',
  '.onnx.OperatorSetIdProto.version',
]);
const INT64_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

const plans = new Map<protobuf.Type, FieldPlan[]>();

/** The fields of `type` the converters must look at: nested messages and 64-bit integers. */
function planFor(type: protobuf.Type): FieldPlan[] {
  let plan = plans.get(type);
  if (plan) return plan;
  plan = [];
  for (const field of type.fieldsArray) {
    const resolved = field.resolve().resolvedType;
    if (resolved instanceof protobuf.Type) {
      plan.push({ name: field.name, repeated: field.repeated, type: resolved });
    } else if (INT64_TYPES.has(field.type)) {
      const unsigned = field.type === 'uint64' || field.type === 'fixed64';
      const label = `${type.name}.${field.name}`;
      plan.push({ name: field.name, repeated: field.repeated, int64: { unsigned, mustBeNumber: NUMBER_ONLY.has(field.fullName), label } });
    }
  }
  plans.set(type, plan);
  return plan;
}

const hasOwn = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

function int64FromWire(value: protobuf.Long | number, spec: NonNullable<FieldPlan['int64']>): Int64 {
  if (typeof value === 'number') return value;
  // Exact whenever the result is safe; an unsafe true value cannot round to a safe one.
  const n = (spec.unsigned ? value.high >>> 0 : value.high) * 4294967296 + (value.low >>> 0);
  if (Number.isSafeInteger(n)) return n;
  if (spec.mustBeNumber) throw new Error(`${spec.label} holds ${n}, which is beyond JavaScript's safe integer range`);
  const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return spec.unsigned ? bits : BigInt.asIntN(64, bits);
}

/** protobufjs's writer takes numbers or `{low, high}`; it would silently write 0 for a bigint. */
function int64ToWire(value: unknown, spec: NonNullable<FieldPlan['int64']>): unknown {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || (spec.unsigned && value < 0)) throw new Error(`${spec.label}: ${value} is not a valid ${spec.unsigned ? 'uint64' : 'int64'}`);
    return value;
  }
  if (typeof value === 'bigint') {
    if ((spec.unsigned ? BigInt.asUintN(64, value) : BigInt.asIntN(64, value)) !== value) {
      throw new Error(`${spec.label}: ${value} does not fit in ${spec.unsigned ? 'uint64' : 'int64'}`);
    }
    return { low: Number(BigInt.asIntN(32, value)), high: Number(BigInt.asIntN(32, value >> 32n)) };
  }
  throw new Error(`${spec.label}: expected a number or bigint, got ${typeof value}`);
}

/** Builds the plain representation from a protobufjs-decoded message. */
function fromWire(type: protobuf.Type, message: AnyMessage): AnyMessage {
  const out: AnyMessage = {};
  const plan = planFor(type);
  for (const field of type.fieldsArray) {
    if (!hasOwn(message, field.name)) continue;
    const value = message[field.name];
    if (value == null || (field.repeated && (value as unknown[]).length === 0)) continue;
    out[field.name] = value;
  }
  for (const field of plan) {
    const value = out[field.name];
    if (value === undefined) continue;
    if (field.type) {
      const sub = field.type;
      out[field.name] = field.repeated ? (value as AnyMessage[]).map((m) => fromWire(sub, m)) : fromWire(sub, value as AnyMessage);
    } else {
      const spec = field.int64!;
      out[field.name] = field.repeated
        ? (value as protobuf.Long[]).map((v) => int64FromWire(v, spec))
        : int64FromWire(value as protobuf.Long, spec);
    }
  }
  if (hasOwn(message, '$unknowns')) out.$unknowns = message.$unknowns;
  return out;
}

/** Copy-on-write pass replacing bigints by what protobufjs can write; the input is not modified. */
function toWire(type: protobuf.Type, message: AnyMessage): AnyMessage {
  let out = message;
  for (const field of planFor(type)) {
    const value = message[field.name];
    if (value == null) continue;
    let next: unknown;
    if (field.type) {
      const sub = field.type;
      next = field.repeated ? mapCopyOnWrite(value as AnyMessage[], (m) => toWire(sub, m)) : toWire(sub, value as AnyMessage);
    } else {
      const spec = field.int64!;
      next = field.repeated ? mapCopyOnWrite(value as unknown[], (v) => int64ToWire(v, spec)) : int64ToWire(value, spec);
    }
    if (next !== value) {
      if (out === message) out = { ...message };
      out[field.name] = next;
    }
  }
  return out;
}

function mapCopyOnWrite<T>(items: T[], fn: (item: T, index: number) => T): T[] {
  let out = items;
  for (let i = 0; i < items.length; i++) {
    const next = fn(items[i], i);
    if (next !== items[i]) {
      if (out === items) out = items.slice();
      out[i] = next;
    }
  }
  return out;
}

/**
 * Decodes one message into the plain representation. Byte fields stay views into `bytes` (a plain
 * Uint8Array view is used even for a Node Buffer so the result does not depend on the platform).
 */
export function decodeMessage<T>(type: protobuf.Type, bytes: Uint8Array): T {
  const reader = protobuf.Reader.create(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  reader.discardUnknown = false;
  return fromWire(type, type.decode(reader) as unknown as AnyMessage) as T;
}

/** Encodes one message from the plain representation into a fresh, exactly sized buffer. */
export function encodeMessage(type: protobuf.Type, message: object): Uint8Array {
  const writer = type.encode(toWire(type, message as AnyMessage));
  // Copy out of the writer's doubling buffer so the result owns a right-sized ArrayBuffer.
  const out = new Uint8Array(writer.pos);
  out.set(writer.finish(true).subarray(0, writer.pos));
  return out;
}

// ---- Tensor traversal. ----------------------------------------------------------------------

export interface TensorSite {
  /** Where the tensor sits, e.g. `graph.initializer[3]` or `graph.node[7].attribute[0].t`. */
  path: string;
  /** True for `GraphProto.initializer` entries (of the main graph or any subgraph). */
  initializer: boolean;
}

function allTypes(ns: protobuf.NamespaceBase): protobuf.Type[] {
  return ns.nestedArray.flatMap((o) =>
    o instanceof protobuf.Namespace ? [...(o instanceof protobuf.Type ? [o] : []), ...allTypes(o)] : [],
  );
}

/** Message types that can (transitively) contain a TensorProto; traversal skips the rest (value_info...). */
const TENSOR_HOLDERS = (() => {
  const holders = new Set<protobuf.Type>([onnxTypes.TensorProto]);
  const types = allTypes(root);
  for (let grew = true; grew; ) {
    grew = false;
    for (const type of types) {
      if (!holders.has(type) && planFor(type).some((f) => f.type && holders.has(f.type))) {
        holders.add(type);
        grew = true;
      }
    }
  }
  return holders;
})();

function mapTensorsIn(
  type: protobuf.Type,
  message: AnyMessage,
  path: string,
  fn: (tensor: TensorProto, site: TensorSite) => TensorProto,
): AnyMessage {
  let out = message;
  for (const field of planFor(type)) {
    const sub = field.type;
    const value = message[field.name];
    if (!sub || value == null || !TENSOR_HOLDERS.has(sub)) continue;
    const initializer = type === onnxTypes.GraphProto && field.name === 'initializer';
    const visit = (m: AnyMessage, at: string): AnyMessage =>
      sub === onnxTypes.TensorProto ? (fn(m as TensorProto, { path: at, initializer }) as AnyMessage) : mapTensorsIn(sub, m, at, fn);
    const prefix = path ? `${path}.${field.name}` : field.name;
    const next = field.repeated
      ? mapCopyOnWrite(value as AnyMessage[], (m, i) => visit(m, `${prefix}[${i}]`))
      : visit(value as AnyMessage, prefix);
    if (next !== value) {
      if (out === message) out = { ...message };
      out[field.name] = next;
    }
  }
  return out;
}

/**
 * Calls `fn` for every TensorProto in the model: initializers, sparse tensors, attribute tensors,
 * subgraphs, functions and training graphs. Copy-on-write: where `fn` returns a different object,
 * the result is a new model sharing every untouched part with the input; the input is not modified.
 */
export function mapTensors(model: ModelProto, fn: (tensor: TensorProto, site: TensorSite) => TensorProto): ModelProto {
  return mapTensorsIn(onnxTypes.ModelProto, model as AnyMessage, '', fn) as ModelProto;
}
