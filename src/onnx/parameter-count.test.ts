import { describe, expect, it } from 'vitest';
import { buildLlamaOnnx } from '../import/llama-onnx';
import { loadBuiltin } from '../fixtures/builtin';
import { countParameters } from './parameter-count';

describe('countParameters', () => {
  it('counts the learnt weights of the imported built-in model, not its RoPE tables or shape constants', async () => {
    const gguf = await loadBuiltin();
    const ggufElements = [...gguf.tensors.values()].reduce((n, t) => n + t.elementCount, 0);
    expect(ggufElements).toBe(292_800);
    expect(countParameters(buildLlamaOnnx(gguf))).toBe(ggufElements);
  });
});
