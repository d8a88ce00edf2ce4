import { describe, expect, it } from 'vitest';
import { DataType, makeModel, node, tensorFromFloat32, valueInfo } from '../onnx/builders';
import { DataLocation } from '../onnx/proto';
import { checkCausalLm, externalTensors, findTruncation, NotALanguageModelError } from './graph-checks';

const graphWith = (inputs: string[], outputs: string[]) =>
  makeModel({
    graph: {
      node: [node('Identity', [inputs[0]!], [outputs[0]!], 'id')],
      input: inputs.map((n) => valueInfo(n, DataType.FLOAT, ['batch', 3, 224, 224])),
      output: outputs.map((n) => valueInfo(n, DataType.FLOAT, ['batch', 1000])),
    },
    opsetImports: [{ domain: '', version: 17 }],
  });

describe('checkCausalLm', () => {
  it('accepts input_ids -> logits and names what an image model takes and returns', () => {
    expect(() => checkCausalLm(graphWith(['input_ids'], ['logits']), 'onnx/model.onnx')).not.toThrow();
    const check = () => checkCausalLm(graphWith(['pixel_values'], ['scores']), 'onnx/model.onnx');
    expect(check).toThrow(NotALanguageModelError);
    expect(check).toThrow(
      'onnx/model.onnx is not a language model: it takes pixel_values [batch, 3, 224, 224] and returns scores [batch, 1000], where a chat model takes input_ids and returns logits.',
    );
  });
});

describe('external data extents', () => {
  const external = (name: string, location: string, offset: number, floats: number) => ({
    ...tensorFromFloat32(name, [floats], new Float32Array(floats)),
    raw_data: undefined,
    data_location: DataLocation.EXTERNAL,
    external_data: [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(floats * 4) },
    ],
  });
  const model = makeModel({
    graph: { initializer: [external('a', 'model.onnx_data', 0, 1024), external('b', 'model.onnx_data_1', 4096, 10)] },
    opsetImports: [{ domain: '', version: 17 }],
  });

  it('lists every external tensor with its byte range', () => {
    expect(externalTensors(model)).toEqual([
      { tensor: 'a', location: 'model.onnx_data', offset: 0, length: 4096 },
      { tensor: 'b', location: 'model.onnx_data_1', offset: 4096, length: 40 },
    ]);
  });

  it('finds a tensor past the end of its file, or a missing file', () => {
    const refs = externalTensors(model);
    expect(findTruncation(refs, new Map([['model.onnx_data', 4096], ['model.onnx_data_1', 4136]]))).toBeUndefined();
    expect(findTruncation(refs, new Map([['model.onnx_data', 4096], ['model.onnx_data_1', 4135]]))).toBe(
      'tensor "b" needs bytes 4096..4136 of "model.onnx_data_1", which has only 4135 bytes (the file is truncated)',
    );
    expect(findTruncation(refs, new Map([['model.onnx_data', 4096]]))).toBe('the data file "model.onnx_data_1" that tensor "b" needs is missing');
  });
});
