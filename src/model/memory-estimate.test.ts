import { describe, expect, it } from 'vitest';
import { BROWSER_LIMITS, GIB, estimateMemory, formatBytes, memoryVerdict, type MemoryInputs } from './memory-estimate';

// SmolLM2-135M's shape: 30 layers, FFN 1536, vocabulary 49152; the fp32 graph holds its weights inline.
const smol = (batchTokens: number, bytes = 540_000_000): MemoryInputs => ({
  files: [{ path: 'onnx/model.onnx', bytes }],
  largestTensor: { name: 'model.embed_tokens.weight', bytes: 49152 * 576 * 4 },
  layers: 30,
  intermediateSize: 1536,
  vocabSize: 49152,
  batchTokens,
});

describe('estimateMemory', () => {
  it('counts weights, every layer’s down_proj input and the logits for the batch', () => {
    const need = estimateMemory(smol(256));
    expect(need.weightBytes).toBe(540_000_000);
    expect(need.layerActivationBytes).toBe(1536 * 256 * 4); // 1,572,864
    expect(need.activationBytes).toBe(30 * 1536 * 256 * 4); // 47,185,920
    expect(need.logitsBytes).toBe(256 * 49152 * 4); // 50,331,648
    expect(need.largestFile).toEqual({ path: 'onnx/model.onnx', bytes: 540_000_000 });
  });
});

describe('memoryVerdict', () => {
  it('on WASM puts weights and activations in the 4 GiB heap, and says how large a batch fits', () => {
    const verdict = memoryVerdict(smol(256), BROWSER_LIMITS);
    expect(verdict.fits).toBe(true);
    expect(verdict.tight).toBe(false);
    expect(verdict.checks.find((c) => c.what.includes('wasm heap'))!.need).toBe(540_000_000 + 47_185_920 + 50_331_648);
    // (4 GiB - 540e6) / (30 * 1536 * 4 + 49152 * 4) = 3,754,967,296 / 380,928 = 9857.5
    expect(verdict.maxBatchTokens).toBe(9857);
  });

  it('on WebGPU checks each tensor against one buffer binding and suggests a smaller batch', () => {
    const limits = { ...BROWSER_LIMITS, gpu: { maxBufferSize: 256 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20 } };
    const verdict = memoryVerdict(smol(1024), limits);
    expect(verdict.fits).toBe(false);
    const logits = verdict.checks.find((c) => c.what.includes('logits'))!;
    expect(logits).toMatchObject({ need: 1024 * 49152 * 4, limit: 128 * 2 ** 20, ok: false, batch: true });
    // The logits bind it: 128 MiB / (49152 * 4) = 682.7 tokens (the FFN allows 21845).
    expect(verdict.maxBatchTokens).toBe(682);
    expect(verdict.summary).toBe(
      'Too large for this browser: the logits of the calibration batch in one GPU buffer needs 192.0 MB, the limit is 128.0 MB. A calibration batch of at most 682 tokens fits.',
    );
    expect(memoryVerdict(smol(682), limits).fits).toBe(true);
    expect(memoryVerdict(smol(683), limits).fits).toBe(false);
  });

  it('refuses a file larger than one ArrayBuffer and points to smaller variants', () => {
    const verdict = memoryVerdict(smol(256, 2.5 * GIB), BROWSER_LIMITS);
    expect(verdict.fits).toBe(false);
    expect(verdict.maxBatchTokens).toBe(0);
    expect(verdict.summary).toContain('the largest file (onnx/model.onnx) in one ArrayBuffer needs 2.50 GB, the limit is 2.00 GB');
    expect(verdict.summary).toContain('Choose a smaller variant');
  });

  it('calls a fit above 80% of a limit tight', () => {
    const inputs = { ...smol(16), files: [{ path: 'onnx/model.onnx_data', bytes: 1.75 * GIB }, { path: 'onnx/model.onnx_data_1', bytes: 1.75 * GIB }] };
    const verdict = memoryVerdict(inputs, BROWSER_LIMITS);
    expect(verdict).toMatchObject({ fits: true, tight: true });
    expect(verdict.summary).toContain('close to the browser limits');
  });
});

describe('formatBytes', () => {
  it('uses KB, MB and GB (powers of 1024)', () => {
    expect(formatBytes(512)).toBe('1 KB');
    expect(formatBytes(3 * 2 ** 20)).toBe('3.0 MB');
    expect(formatBytes(5 * GIB)).toBe('5.00 GB');
  });
});
