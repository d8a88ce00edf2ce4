import { describe, expect, it } from 'vitest';
import { createRng } from '../../../model/sampling';
import { accumulateGram, accumulateGramBlocked } from './reference';

describe('Gram accumulation on the CPU', () => {
  it('both forms give the hand-computed Σ w·a aᵀ', () => {
    // 1·[1,2][1,2]ᵀ + 0.5·[3,-1][3,-1]ᵀ + 0·[7,7][7,7]ᵀ
    const activations = [1, 2, 3, -1, 7, 7];
    const weights = [1, 0.5, 0];
    for (const accumulate of [accumulateGram, accumulateGramBlocked]) {
      const gram = new Float64Array(4);
      accumulate(gram, 2, activations, weights);
      expect([...gram]).toEqual([5.5, 0.5, 0.5, 4.5]);
    }
  });

  it('the blocked sums equal the per-token reference over full and partial blocks, zero weights and earlier sums', () => {
    const rng = createRng(7);
    const channels = 37;
    const tokens = 200; // three blocks of 64 and a partial one
    const activations = Float32Array.from({ length: tokens * channels }, () => rng() * 4 - 2);
    const weights = Float32Array.from({ length: tokens }, (_, t) => (t % 9 === 0 ? 0 : rng()));
    const start = Float64Array.from({ length: channels * channels }, (_, i) => (i % channels) + Math.floor(i / channels)); // symmetric
    const reference = Float64Array.from(start);
    const blocked = Float64Array.from(start);
    accumulateGram(reference, channels, activations, weights);
    accumulateGramBlocked(blocked, channels, activations, weights);
    let worst = 0;
    for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(blocked[i]! - reference[i]!) / Math.max(1, Math.abs(reference[i]!)));
    expect(worst).toBeLessThan(1e-12);
    // The sums changed (a check that cannot pass on an untouched matrix) and the result is symmetric.
    expect(Math.abs(blocked[5]! - start[5]!)).toBeGreaterThan(1);
    for (let i = 0; i < channels; i++) for (let j = 0; j < i; j++) expect(blocked[i * channels + j]).toBe(blocked[j * channels + i]);
  });

  it('both forms refuse a matrix or activations of the wrong size', () => {
    for (const accumulate of [accumulateGram, accumulateGramBlocked]) {
      expect(() => accumulate(new Float64Array(3), 2, [1, 2], [1])).toThrow(/2 channels has 4 entries/);
      expect(() => accumulate(new Float64Array(4), 2, [1, 2, 3], [1, 1])).toThrow(/cannot hold 2 tokens/);
    }
  });
});
