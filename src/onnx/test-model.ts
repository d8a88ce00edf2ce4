/**
 * Test fixture shared by the src/onnx tests: a small model that onnxruntime can run, covering
 * MatMul/Add, fp16/int64/uint8 initializers, a com.microsoft op, subgraphs and Constant nodes with
 * every attribute kind a standard op accepts, plus the hand-computed outputs to check it against.
 */
import { DataType, attr, f, makeModel, metadataProps, node, tensorFromBytes, tensorFromFloat16Bits, tensorFromFloat32, tensorFromInt64, valueInfo } from './builders';
import type { GraphProto, ModelProto, SparseTensorProto } from './proto';

export const W = [0.1, -0.2, 0.3, 0.4, 0.5, -0.6, -0.7, 0.8, 0.9, 1.0, -1.1, 1.2]; // [4, 3]
export const W2 = [0.25, -0.5, 0.75, 1, -1, 0.5, 0.25, -0.25, 2, 0, -1, 0.5]; // [3, 4]
const BIAS_FP16_BITS = [0x3800, 0xbc00, 0x4000]; // 0.5, -1, 2
const BIAS = [0.5, -1, 2];
export const C = [1, 2, 3];
const CF = [0.5, -1, 2];
const PADS = [0, 1, 0, 1];
export const Q = [0, 128, 255];

function branch(name: string, op: string): GraphProto {
  return {
    node: [node(op, ['cf', 'c'], [`${name}_out`], `${name}_${op.toLowerCase()}`)],
    name,
    output: [valueInfo(`${name}_out`, DataType.FLOAT, [3])],
  };
}

function sparseSix(): SparseTensorProto {
  return { values: tensorFromFloat32('sp_values', [2], new Float32Array([7, 9])), indices: tensorFromInt64('sp_indices', [2], [1, 4]), dims: [2, 3] };
}

/** The runnable model. Inputs X: float [batch, 4], flag: bool []. */
export function buildTestModel(): ModelProto {
  const w = tensorFromFloat32('W', [4, 3], new Float32Array(W));
  w.doc_string = 'first projection';
  w.metadata_props = metadataProps({ origin: 'test' });
  const matmul = node('MatMul', ['X', 'W'], ['mm'], 'matmul');
  matmul.doc_string = 'X @ W';
  matmul.metadata_props = metadataProps({ layer: '0' });
  const x = valueInfo('X', DataType.FLOAT, ['batch', 4]);
  x.doc_string = 'input rows';
  x.metadata_props = metadataProps({ role: 'input' });
  return makeModel({
    irVersion: 10,
    producerName: 'pps-test',
    producerVersion: '1.0',
    docString: 'round-trip fixture',
    metadata: { purpose: 'test', 'pps.version': '1' },
    opsetImports: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: {
      name: 'fixture',
      doc_string: 'graph doc',
      metadata_props: metadataProps({ graph: 'main' }),
      node: [
        matmul,
        node('Cast', ['B16'], ['b32'], 'cast', { to: DataType.FLOAT }),
        node('Add', ['mm', 'b32'], ['add'], 'add'),
        node('FusedMatMul', ['X', 'W2'], ['fm'], 'fused', { alpha: f(0.5), transB: 1 }, 'com.microsoft'),
        node('Add', ['add', 'fm'], ['s'], 'add2'),
        node('LeakyRelu', ['s'], ['act'], 'leaky', { alpha: f(0.1) }),
        node('Constant', [], ['c'], 'const_c', { value: tensorFromFloat32('c_value', [3], new Float32Array(C)) }),
        node('Mul', ['act', 'c'], ['scaled'], 'mul'),
        node('Transpose', ['scaled'], ['T'], 'transpose', { perm: [1, 0] }),
        node('Pad', ['scaled', 'pads'], ['Y'], 'pad', { mode: 'constant' }),
        node('Constant', [], ['cf'], 'const_cf', { value_floats: attr.floats(CF) }),
        node('Constant', [], ['Z'], 'const_z', { value_strings: ['a', 'bc'] }),
        node('Constant', [], ['sp'], 'const_sp', { sparse_value: attr.sparseTensor(sparseSix()) }),
        node('Identity', ['sp'], ['SP'], 'densify'),
        node('If', ['flag'], ['BR'], 'if', { then_branch: attr.graph(branch('then', 'Add')), else_branch: attr.graph(branch('else', 'Sub')) }),
        node('DequantizeLinear', ['q', 'q_scale', 'q_zero'], ['DQ'], 'dequant'),
      ],
      initializer: [
        w,
        tensorFromFloat16Bits('B16', [3], new Uint16Array(BIAS_FP16_BITS)),
        tensorFromFloat32('W2', [3, 4], new Float32Array(W2)),
        tensorFromInt64('pads', [4], PADS),
        tensorFromBytes('q', [3], DataType.UINT8, new Uint8Array(Q)),
        tensorFromFloat32('q_scale', [], new Float32Array([0.5])),
        tensorFromBytes('q_zero', [], DataType.UINT8, new Uint8Array([128])),
      ],
      input: [x, valueInfo('flag', DataType.BOOL, [])],
      output: [
        valueInfo('Y', DataType.FLOAT, ['batch', 5]),
        valueInfo('T', DataType.FLOAT, [3, 'batch']),
        valueInfo('BR', DataType.FLOAT, [3]),
        valueInfo('Z', DataType.STRING, [2]),
        valueInfo('SP', DataType.FLOAT, [2, 3]),
        valueInfo('DQ', DataType.FLOAT, [3]),
      ],
      value_info: [valueInfo('mm', DataType.FLOAT, ['batch', 3]), valueInfo('b32', DataType.FLOAT, null)],
    },
  });
}

/**
 * {@link buildTestModel} plus what onnxruntime would reject but a round trip must keep: a custom-
 * domain node carrying every attribute kind (incl. int64 values beyond 2^53), typed-field tensors,
 * and a model-local function.
 */
export function buildRichModel(): ModelProto {
  const model = buildTestModel();
  const graph = model.graph!;
  const tensor = tensorFromFloat32('attr_t', [2], new Float32Array([1.5, -2.5]));
  const typeOf = valueInfo('tp', DataType.FLOAT16, ['n', 8]).type!;
  graph.node!.push(
    node(
      'Everything',
      ['X'],
      ['unused'],
      'everything',
      {
        int: -5,
        big: 9223372036854775807n,
        ints: [1, -2, 2n ** 60n],
        float: f(1e-5),
        floats: attr.floats([0.1, -2.5]),
        str: 'hello',
        strs: ['a', 'é'],
        tensor,
        tensors: attr.tensors([tensor, tensorFromInt64('attr_i', [1], [-7])]),
        graph: attr.graph(branch('g', 'Add')),
        graphs: attr.graphs([branch('g1', 'Add'), branch('g2', 'Sub')]),
        sparse: attr.sparseTensor(sparseSix()),
        sparses: attr.sparseTensors([sparseSix()]),
        tp: attr.typeProto(typeOf),
        tps: attr.typeProtos([typeOf, valueInfo('u', DataType.INT4, [4]).type!]),
      },
      'com.example',
    ),
  );
  graph.initializer!.push(
    { name: 'typed_f32', dims: [2], data_type: DataType.FLOAT, float_data: [Math.fround(0.1), -3] },
    { name: 'typed_i64', dims: [3], data_type: DataType.INT64, int64_data: [1, -1, 9223372036854775807n] },
  );
  graph.sparse_initializer = [sparseSix()];
  model.opset_import!.push({ domain: 'com.example', version: 1 });
  model.model_version = 3;
  model.functions = [
    {
      name: 'Double',
      domain: 'com.example',
      input: ['x'],
      output: ['y'],
      node: [node('Add', ['x', 'x'], ['y'], 'double')],
      opset_import: [{ domain: '', version: 17 }],
    },
  ];
  return model;
}

export interface ExpectedOutputs {
  Y: number[];
  T: number[];
  BR: number[];
  Z: string[];
  SP: number[];
  DQ: number[];
}

/** The model's outputs for `x` ([batch, 4], row-major), computed directly from the definitions. */
export function expectedOutputs(x: readonly number[], flag: boolean): ExpectedOutputs {
  const batch = x.length / 4;
  const alpha = Math.fround(0.1);
  const scaled: number[][] = [];
  for (let b = 0; b < batch; b++) {
    const row: number[] = [];
    for (let j = 0; j < 3; j++) {
      let mm = 0;
      let fm = 0;
      for (let k = 0; k < 4; k++) {
        mm += x[b * 4 + k] * W[k * 3 + j];
        fm += x[b * 4 + k] * W2[j * 4 + k];
      }
      const s = mm + BIAS[j] + 0.5 * fm;
      row.push((s >= 0 ? s : alpha * s) * C[j]);
    }
    scaled.push(row);
  }
  return {
    Y: scaled.flatMap((row) => [0, ...row, 0]),
    T: [0, 1, 2].flatMap((j) => scaled.map((row) => row[j])),
    BR: CF.map((v, j) => (flag ? v + C[j] : v - C[j])),
    Z: ['a', 'bc'],
    SP: [0, 7, 0, 0, 9, 0],
    DQ: Q.map((q) => (q - 128) * 0.5),
  };
}
