import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { DataType, makeModel, node, tensorFromFloat32, valueInfo } from '../onnx/builders';
import { readModelFile, writeModelFile } from './model-files';
import { encodeModel, tensorBytes } from '../onnx/model-io';
import { DataLocation, encodeMessage, onnxTypes, type TensorProto } from '../onnx/proto';
import { buildRichModel, buildTestModel, expectedOutputs } from '../onnx/test-model';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-onnx-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const X = [1, 2, 3, 4, -1, 0.5, 2, -3];

async function runOrt(session: ort.InferenceSession, flag: boolean) {
  const out = await session.run({ X: new ort.Tensor('float32', new Float32Array(X), [2, 4]), flag: new ort.Tensor('bool', [flag], []) });
  return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, { dims: t.dims, data: Array.from(t.data as ArrayLike<number | string>) }]));
}

function expectMatches(actual: Awaited<ReturnType<typeof runOrt>>, flag: boolean) {
  const expected = expectedOutputs(X, flag);
  expect(actual.Y.dims).toEqual([2, 5]);
  expect(actual.T.dims).toEqual([3, 2]);
  expect(actual.SP.dims).toEqual([2, 3]);
  for (const name of ['Y', 'T', 'BR', 'SP', 'DQ'] as const) {
    const got = actual[name].data as number[];
    expect(got).toHaveLength(expected[name].length);
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[name][i], 5));
  }
  expect(actual.Z.data).toEqual(expected.Z);
}

describe('onnxruntime accepts the encoding', () => {
  it('runs the in-memory encoding and matches the hand-computed outputs', async () => {
    const session = await ort.InferenceSession.create(encodeModel(buildTestModel()).model);
    expectMatches(await runOrt(session, true), true);
    expectMatches(await runOrt(session, false), false);
    // Spot values, independent of the reference implementation: DQ = (q - 128) * 0.5, If(then) = cf + c.
    const out = await runOrt(session, true);
    expect(out.DQ.data).toEqual([-64, 0, 63.5]);
    expect(out.BR.data).toEqual([1.5, 1, 5]);
  });

  it('runs the model written with external data, which ORT loads from the file itself', async () => {
    const path = join(dir, 'model.onnx');
    // 40 bytes moves W and W2 out; the int64 `pads` (32 B) must stay inline because onnxruntime's
    // shape inference cannot read external data for shape-like inputs.
    await writeModelFile(path, buildTestModel(), { externalData: { location: 'model.onnx_data', thresholdBytes: 40 } });
    expect((await readFile(join(dir, 'model.onnx_data'))).byteLength).toBe(4096 + 48);
    const session = await ort.InferenceSession.create(path);
    expectMatches(await runOrt(session, true), true);
  });
});

describe('writeModelFile / readModelFile', () => {
  it('round-trips through model.onnx + model.onnx_data with identical graph and tensor bytes', async () => {
    const model = buildRichModel();
    const path = join(dir, 'model.onnx');
    await writeModelFile(path, model, { externalData: { location: 'model.onnx_data', thresholdBytes: 16 } });
    expect((await readdir(dir)).sort()).toEqual(['model.onnx', 'model.onnx_data']);

    const onDisk = new Uint8Array(await readFile(path));
    const expected = encodeModel(model, { externalData: { location: 'model.onnx_data', thresholdBytes: 16 } });
    expect(onDisk).toEqual(expected.model);
    expect((await readFile(join(dir, 'model.onnx_data'))).byteLength).toBe(expected.external!.size);

    const read = await readModelFile(path);
    expect(read.graph!.node).toEqual(model.graph!.node);
    for (const tensor of model.graph!.initializer!) {
      const back = read.graph!.initializer!.find((t) => t.name === tensor.name)!;
      expect(back.data_location).toBeUndefined();
      expect(tensorBytes(back)).toEqual(tensorBytes(tensor));
    }
    // Both externally stored weights are views into one read of the data file.
    const w = read.graph!.initializer!.find((t) => t.name === 'W')!.raw_data!;
    const w2 = read.graph!.initializer!.find((t) => t.name === 'W2')!.raw_data!;
    expect(w.buffer).toBe(w2.buffer);
    expect(w.buffer.byteLength).toBe(expected.external!.size);
  });

  it('writes a single self-contained file without externalData', async () => {
    const path = join(dir, 'inline.onnx');
    await writeModelFile(path, buildTestModel());
    expect(await readdir(dir)).toEqual(['inline.onnx']);
    expect(await readModelFile(path)).toEqual(buildTestModel());
  });

  it('reads tensors spread over model.onnx.data and two more files', async () => {
    const external = (name: string, location: string, offset: number, values: number[]): TensorProto => ({
      name,
      dims: [values.length],
      data_type: DataType.FLOAT,
      data_location: DataLocation.EXTERNAL,
      external_data: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(values.length * 4) },
      ],
    });
    const f32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);
    const model = makeModel({
      graph: {
        name: 'split',
        node: [
          node('Add', ['a', 'b'], ['ab'], 'add1'),
          node('Add', ['ab', 'c'], ['abc'], 'add2'),
          node('Mul', ['abc', 'inline'], ['scaled'], 'mul'),
          node('Add', ['scaled', 'd'], ['y'], 'add3'),
        ],
        initializer: [
          external('a', 'model.onnx.data', 0, [1, 2]),
          external('b', 'model.onnx.data', 8, [10, 20]),
          external('c', 'model.onnx_data_1', 4, [100, 200]),
          tensorFromFloat32('inline', [1], new Float32Array([5])),
          external('d', 'model.onnx_data_2', 0, [7]),
        ],
        output: [valueInfo('y', DataType.FLOAT, [2])],
      },
      opsetImports: [{ domain: '', version: 17 }],
    });
    await writeFile(join(dir, 'model.onnx'), encodeMessage(onnxTypes.ModelProto, model));
    await writeFile(join(dir, 'model.onnx.data'), new Uint8Array([...f32([1, 2]), ...f32([10, 20])]));
    await writeFile(join(dir, 'model.onnx_data_1'), new Uint8Array([9, 9, 9, 9, ...f32([100, 200])]));
    await writeFile(join(dir, 'model.onnx_data_2'), f32([7]));

    const read = await readModelFile(join(dir, 'model.onnx'));
    const values = Object.fromEntries(read.graph!.initializer!.map((t) => [t.name, Array.from(new Float32Array(tensorBytes(t).slice().buffer))]));
    expect(values).toEqual({ a: [1, 2], b: [10, 20], c: [100, 200], inline: [5], d: [7] });
    const [a, b] = read.graph!.initializer!;
    expect(a.raw_data!.buffer).toBe(b.raw_data!.buffer);

    // onnxruntime agrees on what the files contain.
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    const out = await session.run({});
    expect(Array.from(out.y.data as Float32Array)).toEqual([111 * 5 + 7, 222 * 5 + 7]);
  });

  it('names the tensor and file when a data file is missing', async () => {
    const path = join(dir, 'model.onnx');
    await writeModelFile(path, buildTestModel(), { externalData: { location: 'model.onnx_data', thresholdBytes: 16 } });
    await rm(join(dir, 'model.onnx_data'));
    await expect(readModelFile(path)).rejects.toThrow('Tensor "W" is stored in external data file "model.onnx_data", which was not found');
  });

  it('leaves no file behind when writing fails', async () => {
    const path = join(dir, 'model.onnx');
    // Both temporaries get written, then renaming the data file onto a directory fails.
    await mkdir(join(dir, 'taken'));
    await expect(writeModelFile(path, buildTestModel(), { externalData: { location: 'taken', thresholdBytes: 0 } })).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(await readdir(dir)).toEqual(['taken']);
    expect(await readdir(join(dir, 'taken'))).toEqual([]);
    await rm(join(dir, 'taken'), { recursive: true });
    // A model over the protobuf limit fails before anything is written.
    const huge = makeModel({
      graph: { name: 'big', initializer: [{ name: 'big', dims: [2 ** 31], data_type: DataType.UINT8, raw_data: new Uint8Array(2 ** 31) }] },
      opsetImports: [{ domain: '', version: 17 }],
    });
    await expect(writeModelFile(path, huge)).rejects.toThrow(/2 GiB limit/);
    expect(await readdir(dir)).toEqual([]);
  });
});
