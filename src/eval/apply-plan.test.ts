import { describe, expect, it } from 'vitest';
import { applyPlanToWeights } from './apply-plan';

// down_proj [C=3, H=2] rows: [1, 2], [3, 4], [5, 6].
const down = Float32Array.from([1, 2, 3, 4, 5, 6]);

/** Layer output Σ_j a_j · row_j (+ bias) for activations a. */
function output(layer: { down: Float32Array; bias: Float32Array | null }, a: number[]): number[] {
  return [0, 1].map((k) => a.reduce((acc, aj, j) => acc + aj * layer.down[j * 2 + k], layer.bias?.[k] ?? 0));
}

describe('applyPlanToWeights', () => {
  it('zeroes removed rows, so the output equals the masked dense layer', () => {
    const [layer] = applyPlanToWeights([down], 2, { keep: [[0, 2]] });
    expect([...layer.down]).toEqual([1, 2, 0, 0, 5, 6]);
    expect(layer.bias).toBeNull();
    // Masking channel 1 of activations [1, 1, 1]: 1·[1,2] + 1·[5,6] = [6, 8].
    expect(output(layer, [1, 1, 1])).toEqual([6, 8]);
  });

  it('substitutes refit rows for the kept channels', () => {
    const layers = applyPlanToWeights([down, down], 2, { keep: [[0], [1, 2]], downWeights: [Float32Array.from([9, 9]), Float32Array.from([1, 1, 2, 2])] });
    expect(layers.map((l) => [...l.down])).toEqual([
      [9, 9, 0, 0, 0, 0],
      [0, 0, 1, 1, 2, 2],
    ]);
  });

  it('adds the removed channels’ mean contribution as a bias (original rows)', () => {
    // Removed channels 0 and 2 with means 0.5 and −1: 0.5·[1,2] − 1·[5,6] = [−4.5, −5].
    const [layer] = applyPlanToWeights([down], 2, { keep: [[1]], channelMeans: [[0.5, 10, -1]] });
    expect([...layer.bias!]).toEqual([-4.5, -5]);
    // With activations at their means the compensated output equals the dense output.
    expect(output(layer, [0.5, 10, -1])).toEqual(output({ down, bias: null }, [0.5, 10, -1]));
  });

  it('rejects malformed plans and weights', () => {
    expect(() => applyPlanToWeights([down], 2, { keep: [[0], [1]] })).toThrow(/2 layers/);
    expect(() => applyPlanToWeights([down], 2, { keep: [[2, 1]] })).toThrow(/sorted/);
    expect(() => applyPlanToWeights([down], 2, { keep: [[3]] })).toThrow(/out of range/);
    expect(() => applyPlanToWeights([down], 2, { keep: [[0]], downWeights: [new Float32Array(4)] })).toThrow(/replacement/);
    expect(() => applyPlanToWeights([down], 4, { keep: [[0]] })).toThrow(/multiple of hidden/);
  });
});
