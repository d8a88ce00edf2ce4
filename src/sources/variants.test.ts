import { describe, expect, it } from 'vitest';
import { dataChunkIndex, defaultVariant, discoverVariants } from './variants';

// The file names of an onnx-community repository (sizes made up), plus unrelated files.
const LISTING = [
  { path: '.gitattributes', size: 1 },
  { path: 'README.md', size: 2 },
  { path: 'config.json', size: 3 },
  { path: 'onnx/model_q4f16.onnx', size: 400 },
  { path: 'onnx/model.onnx', size: 100 },
  { path: 'onnx/model.onnx_data_10', size: 7 },
  { path: 'onnx/model.onnx_data', size: 1000 },
  { path: 'onnx/model.onnx_data_2', size: 5 },
  { path: 'onnx/model.onnx_data_1', size: 900 },
  { path: 'onnx/model_fp16.onnx', size: 250 },
  { path: 'onnx/model_fp16.onnx_data', size: 800 },
  { path: 'onnx/model_quantized.onnx', size: 300 },
  { path: 'onnx/model_q4.onnx' },
  { path: 'onnx/decoder_model_merged.onnx', size: 9 },
];

describe('discoverVariants', () => {
  it('lists each graph with its external-data chunks in chunk order, fp32 first', () => {
    const variants = discoverVariants(LISTING);
    expect(variants.map((v) => [v.id, v.format])).toEqual([
      ['onnx/model.onnx', 'fp32'],
      ['onnx/model_fp16.onnx', 'fp16'],
      ['onnx/model_q4.onnx', 'int4'],
      ['onnx/model_q4f16.onnx', 'q4f16'],
      ['onnx/model_quantized.onnx', 'int8'],
    ]);
    const [fp32, fp16, q4] = variants;
    expect(fp32!.dataFiles.map((f) => f.path)).toEqual(['onnx/model.onnx_data', 'onnx/model.onnx_data_1', 'onnx/model.onnx_data_2', 'onnx/model.onnx_data_10']);
    expect(fp32!.bytes).toBe(100 + 1000 + 900 + 5 + 7);
    expect(fp16!.dataFiles.map((f) => f.path)).toEqual(['onnx/model_fp16.onnx_data']);
    expect(fp16!.bytes).toBe(1050);
    expect(q4!.bytes).toBeUndefined();
    expect(defaultVariant(variants)?.id).toBe('onnx/model.onnx');
  });

  it('does not guess the precision of a bare model.onnx outside onnx/ (the onnxruntime-genai layout)', () => {
    const variants = discoverVariants([
      { path: 'model.onnx', size: 10 },
      { path: 'model.onnx.data', size: 20 },
      { path: 'genai_config.json', size: 1 },
    ]);
    expect(variants).toHaveLength(1);
    expect(variants[0]).toMatchObject({ id: 'model.onnx', format: 'unknown', bytes: 30, dataFiles: [{ path: 'model.onnx.data', size: 20 }] });
    expect(variants[0]!.label).toContain('precision not in its name');
  });

  it('prefers fp16 when there is no fp32', () => {
    expect(defaultVariant(discoverVariants([{ path: 'onnx/model_q4.onnx' }, { path: 'onnx/model_fp16.onnx' }]))?.id).toBe('onnx/model_fp16.onnx');
    expect(defaultVariant([])).toBeUndefined();
  });
});

describe('dataChunkIndex', () => {
  it('numbers _data, _data_N and .data, and rejects other names', () => {
    expect(dataChunkIndex('model.onnx', 'model.onnx_data')).toBe(0);
    expect(dataChunkIndex('model.onnx', 'model.onnx_data_3')).toBe(3);
    expect(dataChunkIndex('model.onnx', 'model.onnx.data')).toBe(Number.MAX_SAFE_INTEGER);
    expect(dataChunkIndex('model.onnx', 'model.onnx_data_x')).toBeUndefined();
    expect(dataChunkIndex('model.onnx', 'model_fp16.onnx_data')).toBeUndefined();
  });
});
