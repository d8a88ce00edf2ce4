import { describe, expect, it } from 'vitest';
import { hfConfig } from '../import/import-gguf';
import { loadBuiltin } from '../fixtures/builtin';
import type { ModelConfig } from '../model/config';
import { estimatePlan, modelShapeFromConfig, type ModelShape } from './estimates';

// Hidden 4, vocab 10, 2 layers, 2 heads of dim 2 with 1 KV head, FFN 8, untied LM head. Per layer:
// attention q 4×4 + k 4×2 + v 4×2 + o 4×4 = 48, FFN 3·4·8 = 96, norms 8; plus embedding 40,
// LM head 40, final norm 4. Total 2·(48 + 96 + 8) + 84 = 388.
const shape: ModelShape = {
  hiddenSize: 4,
  vocabSize: 10,
  numLayers: 2,
  numHeads: 2,
  numKvHeads: 1,
  headDim: 2,
  intermediateSizes: [8, 8],
  tiedEmbeddings: false,
};

describe('estimatePlan', () => {
  it('counts parameters, FLOPs and bytes of a hand-computed model before and after', () => {
    const e = estimatePlan(shape, [4, 2]);
    expect(e.before).toEqual({ ffnParams: 192, totalParams: 388, flopsPerToken: 2 * (2 * (48 + 96) + 40), fileBytes: 388 * 4 });
    // FFN 3·4·(4 + 2) = 72.
    expect(e.after).toEqual({ ffnParams: 72, totalParams: 268, flopsPerToken: 2 * (2 * 48 + 72 + 40), fileBytes: 268 * 4 });
    expect(e.ffnSparsity).toBe(0.625);
    expect(e.keptPerLayer).toEqual([4, 2]);
    expect(estimatePlan(shape, [4, 2], { dtype: 'fp16' }).after.fileBytes).toBe(268 * 2);
  });

  it('sizes int4 MatMulNBits weights by blocks', () => {
    // Every linear has K ≤ 32: one block per output column = 16 B of nibbles + 4 B scale + 1 B zero point.
    // Per layer outputs: q 4 + k 2 + v 2 + o 4 + gate 8 + up 8 + down 4 = 32 → 672 B; LM head 10 → 210 B;
    // embedding + norms (40 + 20) · 4 B = 240 B.
    expect(estimatePlan(shape, [8, 8], { dtype: 'int4' }).before.fileBytes).toBe(2 * 672 + 210 + 240);
    // Block 2: down [8 in, 4 out] has 4 blocks per column: 4·(4·1 + 4·2 + 2) = 56 B.
    const blocks2 = estimatePlan({ ...shape, numLayers: 1, intermediateSizes: [8] }, [8], { dtype: 'int4', blockSize: 2, floatBytes: 2 });
    const linear = (k: number, n: number) => n * Math.ceil(k / 2) * (1 + 2) + n * Math.ceil(Math.ceil(k / 2) / 2);
    expect(linear(8, 4)).toBe(56);
    const expected = linear(4, 4) * 2 + linear(4, 2) * 2 + linear(4, 8) * 2 + linear(8, 4) + linear(4, 10) + (40 + 8 + 4) * 2;
    expect(blocks2.before.fileBytes).toBe(expected);
  });

  it('counts the built-in model’s parameters exactly (every tensor of its GGUF file)', async () => {
    const model = await loadBuiltin();
    const tensors = [...model.tensors.values()].reduce((acc, t) => acc + t.elementCount, 0);
    const e = estimatePlan(modelShapeFromConfig(hfConfig(model) as ModelConfig), [172, 172, 172, 172, 172]);
    expect(e.before.totalParams).toBe(tensors);
    expect(e.before.ffnParams).toBe(5 * 3 * 64 * 172);
  });

  it('rejects plans that do not fit the model', () => {
    expect(() => estimatePlan(shape, [4])).toThrow(/layers/);
    expect(() => estimatePlan(shape, [9, 4])).toThrow(/layer 0 keeps 9/);
  });
});
