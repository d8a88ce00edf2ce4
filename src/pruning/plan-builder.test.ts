import { describe, expect, it } from 'vitest';
import type { ModelShape } from './estimates';
import { buildPlan, resolveMethod, type BuildPlanInput } from './plan-builder';
import { mixedGram, obsSaliency, reconstructLayer } from './reconstruct';

// 2 layers, hidden 2, 4 channels. ‖down row‖² per channel: layer 0 [1, 4, 9, 0.25], layer 1 [2, 8, 0.01, 25].
const shape: ModelShape = { hiddenSize: 2, vocabSize: 8, numLayers: 2, numHeads: 1, numKvHeads: 1, headDim: 2, intermediateSizes: [4, 4], tiedEmbeddings: true };
const weights = [{ down: Float32Array.from([1, 0, 0, 2, 3, 0, 0, 0.5]) }, { down: Float32Array.from([1, 1, 2, 2, 0, 0.1, 5, 0]) }];
// E[a²] = 1 everywhere, means [0, 0.5, 0, 0] → variance [1, 0.75, 1, 1].
const gram = Float64Array.from([4, 1, 0, 0, 1, 4, 1, 0, 0, 1, 4, 1, 0, 0, 1, 4]);
const layerStats = { sumSq: Float64Array.from([4, 4, 4, 4]), sum: Float64Array.from([0, 2, 0, 0]), sumAbs: Float64Array.from([4, 4, 4, 4]), weight: 4, gram };
const stats = [layerStats, layerStats];
const base: BuildPlanInput = { method: 'magnitude', allocation: 'uniform', sparsity: 0.5, shape, weights, stats };

describe('buildPlan', () => {
  it('magnitude keeps the largest down rows, with estimates and no extras', async () => {
    const plan = await buildPlan(base);
    expect(plan.method).toBe('magnitude');
    expect(plan.keep).toEqual([
      [1, 2],
      [1, 3],
    ]);
    expect(plan.downWeights).toBeUndefined();
    expect(plan.channelMeans).toBeUndefined();
    expect(plan.estimates.keptPerLayer).toEqual([2, 2]);
    expect(plan.estimates.after.ffnParams).toBe(2 * 3 * 2 * 2);
  });

  it('FLAP ranks variance × row norm and carries channel means for bias compensation', async () => {
    // Layer 0: [1, 3, 9, 0.25] → keep 1, 2; layer 1: [2, 6, 0.01, 25] → keep 1, 3.
    const plan = await buildPlan({ ...base, method: 'flap' });
    expect(plan.keep).toEqual([
      [1, 2],
      [1, 3],
    ]);
    expect(plan.scores[0][1]).toBeCloseTo(3, 12);
    expect(plan.channelMeans?.map((m) => [...m])).toEqual([
      [0, 0.5, 0, 0],
      [0, 0.5, 0, 0],
    ]);
    expect((await buildPlan({ ...base, method: 'flap', options: { biasCompensation: false } })).channelMeans).toBeUndefined();
    expect((await buildPlan({ ...base, method: 'wanda-sp' })).channelMeans).toBeUndefined();
  });

  it('random plans follow the seed', async () => {
    const a = await buildPlan({ ...base, method: 'random', stats: undefined, options: { seed: 1 } });
    expect((await buildPlan({ ...base, method: 'random', stats: undefined, options: { seed: 1 } })).keep).toEqual(a.keep);
    const seeds = await Promise.all([2, 3, 4, 5].map(async (seed) => JSON.stringify((await buildPlan({ ...base, method: 'random', options: { seed } })).keep)));
    expect(seeds.some((k) => k !== JSON.stringify(a.keep))).toBe(true);
  });

  it('persona means reconstruct: OBS removal and refit on the persona Gram mixed with the generic one', async () => {
    expect(resolveMethod('persona')).toBe('reconstruct');
    const generic = { ...layerStats, gram: Float64Array.from([2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2]), weight: 2 };
    const progress: number[] = [];
    const plan = await buildPlan({ ...base, method: 'persona', genericStats: [generic, generic], options: { genericMix: 0.5, onProgress: (done) => progress.push(done) } });
    expect(progress).toEqual([1, 2]);
    expect(plan.method).toBe('reconstruct');
    weights.forEach((w, l) => {
      const expected = reconstructLayer(mixedGram(layerStats, generic, 0.5), w.down, 2, 2);
      expect(plan.keep[l]).toEqual(expected.keep);
      // The removal-path solver against the step-by-step reference: the same maths, other rounding.
      plan.downWeights![l].forEach((v, i) => expect(v).toBeCloseTo(expected.down[i]!, 6));
      plan.scores[l].forEach((v, i) => expect(v).toBeCloseTo(expected.saliency[i]!, 10));
    });
    // Without generic statistics the Gram is the persona one alone.
    const alone = await buildPlan({ ...base, method: 'reconstruct' });
    expect(alone.keep[1]).toEqual(reconstructLayer(mixedGram(layerStats), weights[1].down, 2, 2).keep);
  });

  it('reconstruct with global allocation ranks by one-shot OBS saliency', async () => {
    const plan = await buildPlan({ ...base, method: 'reconstruct', allocation: 'global', sparsity: 0.25 });
    weights.forEach((w, l) => obsSaliency(mixedGram(layerStats), w.down, 2).forEach((v, i) => expect(plan.scores[l][i]).toBeCloseTo(v, 10)));
    expect(plan.estimates.keptPerLayer.reduce((a, b) => a + b, 0)).toBe(6);
    plan.keep.forEach((k, l) => expect(plan.downWeights![l].length).toBe(k.length * 2));
  });

  it('OWL keeps more of the layer whose down_proj has outlier weights (Wanda per weight)', async () => {
    // Layer 0: ‖X_j‖ = 2, elements |W|·2 = [20, 0, 2, 0, 2, 0, 2, 0], mean 3.25: one above 5 × 3.25.
    // Layer 1: all equal, no outlier. λ = 0.2 → keep ratios 0.5 + 0.4 − 0.2 = 0.7 and 0.5 − 0.2 = 0.3.
    const owlWeights = [{ down: Float32Array.from([10, 0, 1, 0, 1, 0, 1, 0]) }, { down: new Float32Array(8).fill(1) }];
    const plan = await buildPlan({ ...base, method: 'wanda-sp', allocation: 'owl', weights: owlWeights, options: { owlLambda: 0.2 } });
    expect(plan.keep).toEqual([[0, 1, 2], [0]]);
  });

  it('rejects inputs it cannot use', async () => {
    await expect(buildPlan({ ...base, method: 'wanda-sp', stats: undefined })).rejects.toThrow(/needs calibration statistics/);
    await expect(buildPlan({ ...base, method: 'reconstruct', stats: [{ ...layerStats, gram: undefined }, layerStats] })).rejects.toThrow(/no Gram matrix/);
    await expect(buildPlan({ ...base, method: 'reconstruct', options: { biasCompensation: true } })).rejects.toThrow(/bias compensation/);
    await expect(buildPlan({ ...base, weights: [weights[0]] })).rejects.toThrow(/1 layers/);
    await expect(buildPlan({ ...base, method: 'bogus' as never })).rejects.toThrow(/unknown method/);
  });
});
