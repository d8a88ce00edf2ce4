import { describe, expect, it } from 'vitest';
import { allocate, keepCounts, outlierRatio, roundKeep, standardise, topChannels } from './allocation';

// 2 layers × 4 channels. Standardised: layer 0 → [1.342, −1.342, 0.447, −0.447],
// layer 1 → [−0.577, −0.577, −0.577, 1.732]. Global order: (1,3) (0,0) (0,2) (0,3) (1,0) (1,1) (1,2) (0,1).
const scores = [
  [4, 1, 3, 2],
  [0, 0, 0, 100],
];

describe('allocation', () => {
  it('standardises per layer and finds outliers', () => {
    const z = standardise([4, 1, 3, 2]);
    [3, -3, 1, -1].forEach((v, i) => expect(z[i]).toBeCloseTo(v / Math.sqrt(5), 12));
    expect([...standardise([2, 2])]).toEqual([0, 0]);
    expect(outlierRatio([1, 1, 1, 9], 2)).toBe(0.25);
    expect(outlierRatio([1, 1, 1, 1], 2)).toBe(0);
  });

  it('uniform keeps the same share of every layer, best channels first', () => {
    expect(allocate('uniform', scores, { sparsity: 0.5 }).keep).toEqual([
      [0, 2],
      [0, 3], // ties (0, 0, 0) go to the lower index
    ]);
  });

  it('global ranks standardised scores across layers', () => {
    expect(allocate('global', scores, { sparsity: 0.5 }).keep).toEqual([[0, 2, 3], [3]]);
    expect(allocate('global', scores, { sparsity: 0.25 }).keep).toEqual([
      [0, 2, 3],
      [0, 1, 3],
    ]);
    // Keeping 2 of 8 would give each layer one channel; minKeep 2 raises both.
    expect(keepCounts('global', scores, { sparsity: 0.75 })).toEqual([1, 1]);
    expect(allocate('global', scores, { sparsity: 0.75, minKeep: 2 }).keep).toEqual([
      [0, 2],
      [0, 3],
    ]);
  });

  it('OWL keeps more of the layer with more outliers, within 2λ, same total', () => {
    // Outlier ratios (threshold 2): [0.25, 0] → spread [0.4, 0] for λ = 0.2, mean 0.2 → keep ratios
    // 0.5 ± 0.2 → 2.8 and 1.2 channels → 3 and 1.
    const owl = [
      [1, 1, 1, 9],
      [1, 1, 1, 1],
    ];
    expect(allocate('owl', owl, { sparsity: 0.5, owlLambda: 0.2, owlThreshold: 2 }).keep).toEqual([[0, 1, 3], [0]]);
    // Outliers may come from other scores than the ranking ones: reversed, layer 1 keeps more.
    expect(keepCounts('owl', owl, { sparsity: 0.5, owlLambda: 0.2, owlThreshold: 2, outlierScores: [owl[1], owl[0]] })).toEqual([1, 3]);
    // Equal outlier ratios give the uniform allocation.
    expect(keepCounts('owl', [owl[1], owl[1]], { sparsity: 0.5 })).toEqual([2, 2]);
  });

  it('rounds kept sizes to a multiple, never below the minimum nor above the layer', () => {
    expect(roundKeep(129, 172, 1, 32)).toBe(128);
    expect(roundKeep(10, 172, 1, 32)).toBe(32);
    expect(roundKeep(170, 172, 1, 32)).toBe(160);
    expect(roundKeep(171.9, 172, 1, 128)).toBe(128);
    expect(roundKeep(300, 172)).toBe(172);
    expect(roundKeep(3, 10, 5)).toBe(5);
    expect(roundKeep(0.2, 10, 0)).toBe(1);
    expect(keepCounts('uniform', [new Float64Array(172), new Float64Array(100)], { sparsity: 0.25, multiple: 32 })).toEqual([128, 64]);
  });

  it('picks the top channels in ascending order', () => {
    expect(topChannels([0.1, 5, 3, 5, -1], 3)).toEqual([1, 2, 3]);
    expect(topChannels([1, 2], 0)).toEqual([]);
  });

  it('rejects bad options', () => {
    expect(() => keepCounts('uniform', scores, { sparsity: 1 })).toThrow(/sparsity/);
    expect(() => keepCounts('uniform', scores, { sparsity: -0.1 })).toThrow(/sparsity/);
    expect(() => keepCounts('uniform', scores, { sparsity: 0.5, multiple: 0 })).toThrow(/multiple/);
    expect(() => keepCounts('global', [[1, Number.NaN]], { sparsity: 0.5 })).toThrow(/NaN/);
    expect(() => keepCounts('uniform', [], { sparsity: 0.5 })).toThrow(/no layers/);
  });
});
