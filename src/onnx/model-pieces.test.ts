import { describe, expect, it } from 'vitest';
import { DataType, makeModel, node, tensorFromFloat32, valueInfo } from './builders';
import { decodeModel, type OnnxModel } from './model-io';
import { encodeModelPieces, externalSource, type DataFilePlan } from './model-pieces';
import { DataLocation, type TensorProto } from './proto';

/** A tensor as parseModel leaves an external one: a reference into `location`, no bytes. */
const external = (name: string, floats: number, location: string, offset: number): TensorProto => ({
  name,
  dims: [floats],
  data_type: DataType.FLOAT,
  data_location: DataLocation.EXTERNAL,
  external_data: [
    { key: 'location', value: location },
    { key: 'offset', value: String(offset) },
    { key: 'length', value: String(floats * 4) },
  ],
});

function model(initializer: TensorProto[]): OnnxModel {
  return makeModel({
    graph: { name: 'g', node: [node('Identity', ['a'], ['y'], 'id')], initializer, output: [valueInfo('y', DataType.FLOAT, [1])] },
    opsetImports: [{ domain: '', version: 17 }],
  });
}

/** The bytes a data file plan describes, resolving source ranges from `sources`. */
function assemble(file: DataFilePlan, sources: Record<string, Uint8Array>): Uint8Array {
  const out = new Uint8Array(file.size);
  let at = 0;
  for (const p of file.pieces) {
    const bytes = p.kind === 'bytes' ? p.bytes : sources[p.location]!.subarray(p.offset, p.offset + p.length);
    out.set(bytes, at);
    at += bytes.byteLength;
  }
  expect(at).toBe(file.size);
  return out;
}

describe('encoding with streamed pieces', () => {
  const big = Float32Array.from({ length: 512 }, (_, i) => i * 0.5);
  const source = new Uint8Array(8192 + 2048);
  new Float32Array(source.buffer, 8192, 512).set(big.map((v) => -v));

  it('copies unresolved tensors from their source file, writes in-memory ones, aligns, and keeps small tensors inline', () => {
    const m = model([external('moved', 512, 'old.onnx_data', 8192), tensorFromFloat32('fresh', [512], big), tensorFromFloat32('small', [2], Float32Array.of(1, 2))]);
    expect(externalSource(m.graph!.initializer![0]!)).toEqual({ location: 'old.onnx_data', offset: 8192, length: 2048 });
    const pieces = encodeModelPieces(m, { externalData: { location: 'model.onnx_data' } });
    expect(pieces.dataFiles).toHaveLength(1);
    const file = pieces.dataFiles[0]!;
    expect(file.pieces.map((p) => (p.kind === 'source' ? `source ${p.location}@${p.offset}+${p.length}` : `bytes ${p.bytes.byteLength}`))).toEqual([
      'source old.onnx_data@8192+2048',
      'bytes 2048',
      'bytes 2048',
    ]);
    expect(file.size).toBe(4096 + 2048);
    const data = assemble(file, { 'old.onnx_data': source });
    const decoded = decodeModel(pieces.model, (location) => (location === 'model.onnx_data' ? data : undefined));
    const values = (name: string) => Array.from(new Float32Array(decoded.graph!.initializer!.find((t) => t.name === name)!.raw_data!.slice().buffer));
    expect(values('moved')).toEqual(Array.from(big, (v) => -v));
    expect(values('fresh')).toEqual(Array.from(big));
    expect(values('small')).toEqual([1, 2]);
    const small = decoded.graph!.initializer!.find((t) => t.name === 'small')!;
    expect(small.data_location).toBeUndefined();
  });

  it('starts a new file (_1, _2, ...) before one would pass maxFileBytes', () => {
    const m = model([tensorFromFloat32('a', [512], big), tensorFromFloat32('b', [512], big), tensorFromFloat32('c', [512], big)]);
    const pieces = encodeModelPieces(m, { externalData: { location: 'model.onnx_data', maxFileBytes: 7000 } });
    expect(pieces.dataFiles.map((f) => [f.location, f.size])).toEqual([
      ['model.onnx_data', 4096 + 2048],
      ['model.onnx_data_1', 2048],
    ]);
  });

  it('threshold 0 moves every initializer; without external data an unresolved tensor is an error', () => {
    const m = model([tensorFromFloat32('small', [2], Float32Array.of(1, 2))]);
    expect(encodeModelPieces(m, { externalData: { location: 'x.data', thresholdBytes: 0 } }).dataFiles[0]!.size).toBe(8);
    expect(() => encodeModelPieces(model([external('moved', 512, 'old.onnx_data', 0)]))).toThrow(/must be written inline, but its bytes are still in "old.onnx_data"/);
    expect(() => encodeModelPieces(model([external('bad', 4, '../escape', 0)]), { externalData: { location: 'x' } })).toThrow(/inside the model's folder/);
  });
});
