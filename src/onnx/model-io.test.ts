import { describe, expect, it } from 'vitest';
import { DataType, attr, f, makeModel, node, tensorFromBytes, tensorFromFloat32, tensorFromInt64, valueInfo } from './builders';
import {
  decodeModel,
  defaultExternalDataName,
  encodeModel,
  externalDataLocations,
  parseModel,
  resolveExternalData,
  tensorBytes,
  type OnnxModel,
} from './model-io';
import { AttributeType, DataLocation, bytesPerElement, decodeMessage, encodeMessage, onnxTypes, type AttributeProto, type TensorProto } from './proto';
import { buildRichModel, buildTestModel, W } from './test-model';

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);
const concat = (chunks: Uint8Array[]) => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  chunks.reduce((at, c) => (out.set(c, at), at + c.byteLength), 0);
  return out;
};
const initializer = (model: OnnxModel, name: string): TensorProto => {
  const found = model.graph?.initializer?.find((t) => t.name === name);
  if (!found) throw new Error(`no initializer ${name}`);
  return found;
};

describe('schema', () => {
  it('DataType constants match the parsed enum', () => {
    expect(onnxTypes.TensorProto.lookupEnum('DataType').values).toEqual(DataType);
    expect(onnxTypes.AttributeProto.lookupEnum('AttributeType').values).toEqual(AttributeType);
  });

  it('uses the official field numbers for the fields this app relies on', () => {
    const ids = (type: keyof typeof onnxTypes, names: string[]) => names.map((n) => onnxTypes[type].fields[n].id);
    expect(ids('ModelProto', ['ir_version', 'producer_name', 'graph', 'opset_import', 'metadata_props', 'training_info', 'functions', 'configuration'])).toEqual([1, 2, 7, 8, 14, 20, 25, 26]);
    expect(ids('GraphProto', ['node', 'name', 'initializer', 'doc_string', 'input', 'output', 'value_info', 'sparse_initializer', 'metadata_props'])).toEqual([1, 2, 5, 10, 11, 12, 13, 15, 16]);
    expect(ids('NodeProto', ['input', 'output', 'name', 'op_type', 'attribute', 'doc_string', 'domain', 'overload', 'metadata_props', 'device_configurations'])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(ids('AttributeProto', ['f', 'i', 's', 't', 'g', 'floats', 'ints', 'strings', 'tensors', 'graphs', 'tp', 'type_protos', 'type', 'ref_attr_name', 'sparse_tensor', 'sparse_tensors'])).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 20, 21, 22, 23]);
    expect(ids('TensorProto', ['dims', 'data_type', 'segment', 'float_data', 'int32_data', 'string_data', 'int64_data', 'name', 'raw_data', 'double_data', 'uint64_data', 'doc_string', 'external_data', 'data_location', 'metadata_props'])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16]);
    expect(ids('ValueInfoProto', ['name', 'type', 'doc_string', 'metadata_props'])).toEqual([1, 2, 3, 4]);
    expect(ids('TypeProto', ['tensor_type', 'sequence_type', 'map_type', 'denotation', 'sparse_tensor_type', 'optional_type'])).toEqual([1, 4, 5, 6, 8, 9]);
  });

  it('bytesPerElement covers fixed-width and packed types and rejects STRING', () => {
    expect([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.INT64, DataType.UINT8, DataType.INT4, DataType.FLOAT4E2M1, DataType.INT2].map(bytesPerElement)).toEqual([4, 2, 2, 8, 1, 0.5, 0.5, 0.25]);
    expect(() => bytesPerElement(DataType.STRING)).toThrow(/no fixed-width/);
  });
});

describe('round trip', () => {
  it('encode -> decode -> encode is byte-identical and the model deep-equals the built one', () => {
    const model = buildRichModel();
    const first = encodeModel(model);
    expect(first.external).toBeUndefined();
    const decoded = decodeModel(first.model);
    const second = encodeModel(decoded).model;
    expect(Buffer.from(second).equals(Buffer.from(first.model))).toBe(true);
    expect(decoded).toEqual(model);
    for (const tensor of model.graph!.initializer!) {
      expect(tensorBytes(initializer(decoded, tensor.name!))).toEqual(tensorBytes(tensor));
    }
  });

  it('decodes every part with its real values', () => {
    const decoded = decodeModel(encodeModel(buildRichModel()).model);
    expect(decoded.ir_version).toBe(10);
    expect(decoded.producer_name).toBe('pps-test');
    expect(decoded.opset_import).toEqual([
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
      { domain: 'com.example', version: 1 },
    ]);
    expect(decoded.metadata_props).toEqual([
      { key: 'purpose', value: 'test' },
      { key: 'pps.version', value: '1' },
    ]);
    const graph = decoded.graph!;
    expect(graph.metadata_props).toEqual([{ key: 'graph', value: 'main' }]);
    expect(graph.input![0].type!.tensor_type!.shape!.dim).toEqual([{ dim_param: 'batch' }, { dim_value: 4 }]);
    expect(graph.input![0].metadata_props).toEqual([{ key: 'role', value: 'input' }]);
    expect(graph.value_info![1].type!.tensor_type).toEqual({ elem_type: DataType.FLOAT });
    const w = initializer(decoded, 'W');
    expect(w.dims).toEqual([4, 3]);
    expect(w.doc_string).toBe('first projection');
    expect(Array.from(new Float32Array(w.raw_data!.slice().buffer))).toEqual(W.map(Math.fround));
    expect(initializer(decoded, 'typed_i64').int64_data).toEqual([1, -1, 9223372036854775807n]);
    const fused = graph.node!.find((n) => n.op_type === 'FusedMatMul')!;
    expect(fused.domain).toBe('com.microsoft');
    expect(fused.attribute).toEqual([
      { name: 'alpha', type: AttributeType.FLOAT, f: 0.5 },
      { name: 'transB', type: AttributeType.INT, i: 1 },
    ]);
    const everything = graph.node!.find((n) => n.op_type === 'Everything')!;
    const byName: Record<string, AttributeProto> = Object.fromEntries(everything.attribute!.map((a) => [a.name, a]));
    expect(Object.fromEntries(Object.entries(byName).map(([k, a]) => [k, a.type]))).toEqual({
      int: AttributeType.INT,
      big: AttributeType.INT,
      ints: AttributeType.INTS,
      float: AttributeType.FLOAT,
      floats: AttributeType.FLOATS,
      str: AttributeType.STRING,
      strs: AttributeType.STRINGS,
      tensor: AttributeType.TENSOR,
      tensors: AttributeType.TENSORS,
      graph: AttributeType.GRAPH,
      graphs: AttributeType.GRAPHS,
      sparse: AttributeType.SPARSE_TENSOR,
      sparses: AttributeType.SPARSE_TENSORS,
      tp: AttributeType.TYPE_PROTO,
      tps: AttributeType.TYPE_PROTOS,
    });
    expect(byName.int.i).toBe(-5);
    expect(byName.big.i).toBe(9223372036854775807n);
    expect(byName.ints.ints).toEqual([1, -2, 2n ** 60n]);
    expect(byName.float.f).toBe(Math.fround(1e-5));
    expect(text(byName.str.s)).toBe('hello');
    expect(byName.strs.strings!.map(text)).toEqual(['a', 'é']);
    expect(byName.graphs.graphs!.map((g) => g.node![0].op_type)).toEqual(['Add', 'Sub']);
    expect(byName.tps.type_protos![1].tensor_type!.elem_type).toBe(DataType.INT4);
    expect(decoded.functions![0].node![0].input).toEqual(['x', 'x']);
  });

  it('keeps fields unknown to the schema', () => {
    const bytes = encodeModel(buildTestModel()).model;
    const withUnknown = concat([bytes, new Uint8Array([0x98, 0x06, 0x2a])]); // field 99, varint 42
    const decoded = decodeModel(withUnknown);
    expect(decoded.$unknowns).toEqual([new Uint8Array([0x98, 0x06, 0x2a])]);
    expect(Buffer.from(encodeModel(decoded).model).equals(Buffer.from(withUnknown))).toBe(true);
  });

  it('rejects a dims value beyond the safe integer range instead of rounding it', () => {
    const bytes = encodeMessage(onnxTypes.TensorProto, { name: 'huge', dims: [2n ** 60n], data_type: DataType.FLOAT });
    expect(() => decodeMessage(onnxTypes.TensorProto, bytes)).toThrow(/TensorProto\.dims holds/);
  });

  it('refuses to encode values that do not fit their int64 field', () => {
    expect(() => encodeMessage(onnxTypes.TensorProto, { dims: [1.5] })).toThrow(/TensorProto\.dims: 1\.5/);
    expect(() => encodeMessage(onnxTypes.AttributeProto, { i: 2n ** 64n })).toThrow(/does not fit in int64/);
  });

  it('decodes byte fields as views into the input (zero-copy)', () => {
    const input = encodeModel(buildTestModel()).model;
    const decoded = decodeModel(input);
    const w = initializer(decoded, 'W').raw_data!;
    expect(w.buffer).toBe(input.buffer);
    expect(input.subarray(w.byteOffset, w.byteOffset + w.byteLength)).toEqual(tensorBytes(initializer(buildTestModel(), 'W')));
    // A Node Buffer input is viewed the same way.
    const buffer = Buffer.from(input);
    expect(initializer(decodeModel(buffer), 'W').raw_data!.buffer).toBe(buffer.buffer);
  });
});

describe('external data', () => {
  const options = { externalData: { location: 'model.onnx_data', thresholdBytes: 16, alignment: 64 } };

  it('moves large initializers out as the original views, leaving the caller model untouched', () => {
    const model = buildTestModel();
    const before = structuredClone(model);
    const encoded = encodeModel(model, options);
    expect(model).toEqual(before);
    expect(initializer(model, 'W').data_location).toBeUndefined();

    const external = encoded.external!;
    expect(external.location).toBe('model.onnx_data');
    const w = initializer(model, 'W').raw_data!;
    const w2 = initializer(model, 'W2').raw_data!;
    const pads = initializer(model, 'pads').raw_data!;
    expect(external.chunks.filter((c) => c === w || c === w2 || c === pads)).toEqual([w, w2, pads]);
    // W (48 B) at 0, W2 (48 B) at 64, pads (32 B) at 128; the rest are below the 16-byte threshold.
    expect(external.size).toBe(160);
    expect(external.chunks.map((c) => c.byteLength)).toEqual([48, 16, 48, 16, 32]);

    const parsed = parseModel(encoded.model);
    const ref = (name: string) => {
      const t = initializer(parsed, name);
      return { location: t.data_location, raw: t.raw_data, entries: t.external_data };
    };
    expect(ref('W')).toEqual({
      location: DataLocation.EXTERNAL,
      raw: undefined,
      entries: [
        { key: 'location', value: 'model.onnx_data' },
        { key: 'offset', value: '0' },
        { key: 'length', value: '48' },
      ],
    });
    expect(ref('W2').entries![1]).toEqual({ key: 'offset', value: '64' });
    expect(ref('pads').entries![1]).toEqual({ key: 'offset', value: '128' });
    expect(ref('B16')).toEqual({ location: undefined, raw: new Uint8Array(new Uint16Array([0x3800, 0xbc00, 0x4000]).buffer), entries: undefined });
    // Constant-node tensors stay inline.
    const constant = parsed.graph!.node!.find((n) => n.name === 'const_c')!.attribute![0].t!;
    expect(constant.raw_data!.byteLength).toBe(12);
    expect(externalDataLocations(parsed)).toEqual(['model.onnx_data']);

    const file = concat(external.chunks);
    const decoded = decodeModel(encoded.model, (location) => (location === 'model.onnx_data' ? file : undefined));
    expect(decoded).toEqual(model);
    const view = initializer(decoded, 'W2').raw_data!;
    expect(view.buffer).toBe(file.buffer);
    expect(view.byteOffset).toBe(64);
  });

  it('threshold 0 moves every initializer, typed-field tensors included, and re-encoding inline restores the original', () => {
    const model = buildRichModel();
    const encoded = encodeModel(model, { externalData: { location: 'w.bin', thresholdBytes: 0, alignment: 1 } });
    const parsed = parseModel(encoded.model);
    expect(parsed.graph!.initializer!.every((t) => t.data_location === DataLocation.EXTERNAL)).toBe(true);
    const file = concat(encoded.external!.chunks);
    expect(encoded.external!.size).toBe(file.byteLength);
    const decoded = decodeModel(encoded.model, () => file);
    const typed = initializer(decoded, 'typed_i64');
    expect(Array.from(new BigInt64Array(typed.raw_data!.slice().buffer))).toEqual([1n, -1n, 9223372036854775807n]);
    expect(typed.int64_data).toBeUndefined();
    expect(decoded.graph!.node).toEqual(model.graph!.node);
    // Without externalData everything goes back inline, and inline encodings match byte for byte
    // once the typed-field tensors (now raw_data) are compared the same way.
    const inline = encodeModel(decoded);
    expect(inline.external).toBeUndefined();
    expect(parseModel(inline.model).graph!.initializer!.every((t) => t.data_location === undefined && t.external_data === undefined)).toBe(true);
    expect(encodeModel(decodeModel(inline.model)).model).toEqual(inline.model);
  });

  it('reports a missing external file, naming tensor and file', () => {
    const encoded = encodeModel(buildTestModel(), options);
    expect(() => decodeModel(encoded.model)).toThrow('Tensor "W" is stored in external data file "model.onnx_data", which was not found (no external data files were provided)');
    expect(() => decodeModel(encoded.model, () => undefined)).toThrow(/Tensor "W" is stored in external data file "model.onnx_data", which was not found$/);
  });

  it('reports a truncated data file', () => {
    const encoded = encodeModel(buildTestModel(), options);
    const truncated = concat(encoded.external!.chunks).subarray(0, 100);
    expect(() => decodeModel(encoded.model, () => truncated)).toThrow('Tensor "W2" needs bytes 64..112 of "model.onnx_data", but that file has only 100 bytes (truncated or wrong data file?)');
  });

  it('reports an out-of-range offset and a length that contradicts the dims', () => {
    const tensor = (entries: Record<string, string>): TensorProto => ({
      name: 'w',
      dims: [2],
      data_type: DataType.FLOAT,
      data_location: DataLocation.EXTERNAL,
      external_data: Object.entries(entries).map(([key, value]) => ({ key, value })),
    });
    const withTensor = (t: TensorProto) =>
      encodeMessage(onnxTypes.ModelProto, makeModel({ graph: { name: 'g', initializer: [t] }, opsetImports: [{ domain: '', version: 17 }] }));
    const file = new Uint8Array(16);
    expect(() => decodeModel(withTensor(tensor({ location: 'd', offset: '12' })), () => file)).toThrow(/needs bytes 12\.\.20 of "d", but that file has only 16 bytes/);
    expect(() => decodeModel(withTensor(tensor({ location: 'd', length: '4' })), () => file)).toThrow(/has length 4, but dims \[2\] of data type 1 need 8 bytes/);
    expect(() => decodeModel(withTensor(tensor({ location: 'd', offset: '-4' })), () => file)).toThrow(/invalid external offset "-4"/);
    const ok = decodeModel(withTensor(tensor({ location: 'd', offset: '8' })), () => file);
    expect(initializer(ok, 'w').raw_data!.byteOffset).toBe(8);
  });

  it('resolveExternalData resolves a parsed model in place', () => {
    const encoded = encodeModel(buildTestModel(), options);
    const parsed = parseModel(encoded.model);
    const file = concat(encoded.external!.chunks);
    expect(resolveExternalData(parsed, () => file)).toBe(parsed);
    expect(initializer(parsed, 'W').raw_data!.buffer).toBe(file.buffer);
  });

  it('rejects locations outside the model folder', () => {
    expect(() => encodeModel(buildTestModel(), { externalData: { location: '../x.bin' } })).toThrow(/relative path inside/);
    expect(() => encodeModel(buildTestModel(), { externalData: { location: '/tmp/x.bin' } })).toThrow(/relative path inside/);
  });

  it('names the default data file after the model file', () => {
    expect(defaultExternalDataName('model.onnx')).toBe('model.onnx_data');
    expect(defaultExternalDataName('onnx/decoder_model_merged.onnx')).toBe('decoder_model_merged.onnx_data');
  });
});

describe('2 GiB protobuf limit', () => {
  // 2 GiB of untouched zeroed memory: allocated lazily by the OS, never copied by these tests.
  const huge = () =>
    makeModel({
      graph: { name: 'big', initializer: [tensorFromBytes('big', [2 ** 31], DataType.UINT8, new Uint8Array(2 ** 31))] },
      opsetImports: [{ domain: '', version: 17 }],
    });

  it('refuses an inline model over the limit, suggesting external data', () => {
    expect(() => encodeModel(huge())).toThrow(/2\.00 GiB, over protobuf's 2 GiB limit; encode with \{ externalData/);
  });

  it('encodes the same model with external data without copying the tensor', () => {
    const model = huge();
    const encoded = encodeModel(model, { externalData: { location: 'big.onnx_data' } });
    expect(encoded.model.byteLength).toBeLessThan(200);
    expect(encoded.external!.chunks).toHaveLength(1);
    expect(encoded.external!.chunks[0]).toBe(initializer(model, 'big').raw_data);
    expect(encoded.external!.size).toBe(2 ** 31);
  });
});

describe('tensorBytes', () => {
  const bytes = (t: Partial<TensorProto>) => Array.from(tensorBytes({ name: 't', ...t }));
  const le = (array: ArrayBufferView) => Array.from(new Uint8Array(array.buffer));

  it('returns raw_data itself', () => {
    const t = tensorFromFloat32('t', [2], new Float32Array([1, 2]));
    expect(tensorBytes(t)).toBe(t.raw_data);
  });

  it('builds raw layout from typed fields', () => {
    expect(bytes({ data_type: DataType.FLOAT, float_data: [1.5, -2] })).toEqual(le(new Float32Array([1.5, -2])));
    expect(bytes({ data_type: DataType.DOUBLE, double_data: [0.1] })).toEqual(le(new Float64Array([0.1])));
    expect(bytes({ data_type: DataType.INT64, int64_data: [-1, 2n ** 62n] })).toEqual(le(new BigInt64Array([-1n, 2n ** 62n])));
    expect(bytes({ data_type: DataType.UINT64, uint64_data: [2n ** 64n - 1n] })).toEqual(le(new BigUint64Array([2n ** 64n - 1n])));
    expect(bytes({ data_type: DataType.UINT32, uint64_data: [4000000000] })).toEqual(le(new Uint32Array([4000000000])));
    expect(bytes({ data_type: DataType.INT32, int32_data: [-3, 7] })).toEqual(le(new Int32Array([-3, 7])));
    expect(bytes({ data_type: DataType.FLOAT16, int32_data: [0x3c00, 0xbc00] })).toEqual(le(new Uint16Array([0x3c00, 0xbc00])));
    expect(bytes({ data_type: DataType.INT16, int32_data: [-2] })).toEqual(le(new Int16Array([-2])));
    expect(bytes({ data_type: DataType.INT8, int32_data: [-1, 5] })).toEqual([255, 5]);
    expect(bytes({ data_type: DataType.BOOL, int32_data: [1, 0] })).toEqual([1, 0]);
    // Packed 4-bit: each int32_data entry already holds two elements.
    expect(bytes({ data_type: DataType.INT4, int32_data: [0x21, 0x0f] })).toEqual([0x21, 0x0f]);
  });

  it('rejects STRING tensors and unloaded external tensors', () => {
    expect(() => tensorBytes({ name: 's', data_type: DataType.STRING, string_data: [] })).toThrow(/STRING tensor/);
    expect(() => tensorBytes({ name: 'e', data_type: DataType.FLOAT, data_location: DataLocation.EXTERNAL })).toThrow(/stored externally/);
  });
});

describe('invalid input', () => {
  it('names garbage bytes as not an ONNX model', () => {
    expect(() => decodeModel(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]))).toThrow(/^Not a valid ONNX model: /);
    // Bytes that happen to parse as protobuf but carry no model.
    expect(() => decodeModel(new Uint8Array([0x98, 0x06, 0x01]))).toThrow('Not a valid ONNX model: it has no ir_version or graph');
    expect(() => decodeModel(new Uint8Array(0))).toThrow('Not a valid ONNX model: it has no ir_version or graph');
  });

  it('recognizes a Git LFS pointer and an HTML page', () => {
    const lfs = new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n');
    expect(() => decodeModel(lfs)).toThrow('Not a valid ONNX model: this is a Git LFS pointer file, not the model itself');
    expect(() => decodeModel(new TextEncoder().encode('<!DOCTYPE html><html></html>'))).toThrow(/HTML page/);
  });
});

describe('builders', () => {
  it('infers attribute types and requires explicit floats', () => {
    const n = node('Op', ['a'], ['b'], 'n', { i: 3, is: [1, 2], s: 'x', ss: ['y'], fl: f(0.25), t: tensorFromInt64('k', [1], [5]) });
    expect(n.attribute!.map((a) => [a.name, a.type])).toEqual([
      ['i', AttributeType.INT],
      ['is', AttributeType.INTS],
      ['s', AttributeType.STRING],
      ['ss', AttributeType.STRINGS],
      ['fl', AttributeType.FLOAT],
      ['t', AttributeType.TENSOR],
    ]);
    expect(() => node('Op', [], [], 'n', { alpha: 0.1 })).toThrow(/0\.1 is not an integer; mark float attributes with f\(0\.1\)/);
    expect(() => node('Op', [], [], 'n', { axes: [] })).toThrow(/empty list has no type/);
    expect(() => node('Op', [], [], 'n', { xs: [1, 0.5] })).toThrow(/attr\.floats/);
    expect(node('Op', [], [], 'n', { axes: attr.ints([]) }).attribute).toEqual([{ name: 'axes', type: AttributeType.INTS }]);
  });

  it('validates tensor sizes and writes dim_param / dim_value', () => {
    expect(() => tensorFromFloat32('w', [2, 2], new Float32Array(3))).toThrow('Tensor "w": dims [2,2] of data type 1 need 16 bytes, got 12');
    expect(tensorFromBytes('q', [3], DataType.INT4, new Uint8Array(2)).raw_data!.byteLength).toBe(2);
    expect(valueInfo('x', DataType.FLOAT, ['batch', 8]).type!.tensor_type!.shape).toEqual({ dim: [{ dim_param: 'batch' }, { dim_value: 8 }] });
    expect(valueInfo('s', DataType.FLOAT, []).type!.tensor_type!.shape).toEqual({});
  });
});
