import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../model/config';
import { BROWSER_LIMITS, GIB } from '../model/memory-estimate';
import type { Inspection } from './inspect';
import { fittingAlternatives, limitsFor, listingVerdict, pickVariant } from './variant-choice';
import { discoverVariants } from './variants';

const config = { model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, vocab_size: 128256 } as ModelConfig;
const inspection = (files: { path: string; size: number }[]): Inspection => ({
  sourceId: 'x',
  label: 'x',
  listing: { files, via: 'hub-api' },
  variants: discoverVariants(files).map((v) => ({ ...v, available: false })),
  config,
  problems: [],
});

// A 1B model: fp32 split in two 2.4 GB data files (each over one ArrayBuffer), fp16 in one 2.4 GB file, q4 small.
const llama1b = inspection([
  { path: 'onnx/model.onnx', size: 500_000 },
  { path: 'onnx/model.onnx_data', size: 2.4 * GIB },
  { path: 'onnx/model.onnx_data_1', size: 2.4 * GIB },
  { path: 'onnx/model_fp16.onnx', size: 400_000 },
  { path: 'onnx/model_fp16.onnx_data', size: 2.4 * GIB },
  { path: 'onnx/model_q4.onnx', size: 1.1 * GIB },
]);

describe('variant choice', () => {
  it('adds the GPU device limits on WebGPU only', () => {
    const gpu = { maxBufferSize: 1024, maxStorageBufferBindingSize: 512 };
    expect(limitsFor({ kind: 'webgpu', description: '', vendor: '', architecture: '', features: [], limits: gpu })).toEqual({ ...BROWSER_LIMITS, gpu });
    expect(limitsFor({ kind: 'wasm', reason: 'asked', threads: 1 })).toBe(BROWSER_LIMITS);
    expect(limitsFor(null)).toBe(BROWSER_LIMITS);
  });

  it('judges each variant from the listing and preselects the most precise that fits', () => {
    expect(listingVerdict(llama1b, 'onnx/model.onnx', BROWSER_LIMITS, 256)?.fits).toBe(false);
    expect(listingVerdict(llama1b, 'onnx/model_fp16.onnx', BROWSER_LIMITS, 256)?.fits).toBe(false);
    expect(listingVerdict(llama1b, 'onnx/model_q4.onnx', BROWSER_LIMITS, 256)?.fits).toBe(true);
    expect(pickVariant(llama1b, BROWSER_LIMITS, 256)).toBe('onnx/model_q4.onnx');
    expect(fittingAlternatives(llama1b, 'onnx/model.onnx', BROWSER_LIMITS, 256)).toBe(' This model also comes as int4 weights, fp32 compute (q4), which fits.');
    expect(fittingAlternatives(llama1b, 'onnx/model_q4.onnx', BROWSER_LIMITS, 256)).toBe('');
  });

  it('keeps the first variant when none fits, and takes fp32 when it fits', () => {
    const tooBig = inspection([{ path: 'onnx/model.onnx', size: 3 * GIB }]);
    expect(pickVariant(tooBig, BROWSER_LIMITS, 256)).toBe('onnx/model.onnx');
    const small = inspection([{ path: 'onnx/model.onnx', size: 600 * 2 ** 20 }, { path: 'onnx/model_q4.onnx', size: 200 * 2 ** 20 }]);
    expect(pickVariant(small, BROWSER_LIMITS, 256)).toBe('onnx/model.onnx');
  });
});
