import { describe, expect, it } from 'vitest';
import { SPARSITY_RANGE, sparsityProblem } from './sparsity-range';

describe('SPARSITY_RANGE', () => {
  it('accepts its bounds and what lies between, refuses the rest with a message naming the range', () => {
    expect(sparsityProblem(SPARSITY_RANGE.min)).toBeNull();
    expect(sparsityProblem(SPARSITY_RANGE.max)).toBeNull();
    expect(sparsityProblem(0.25)).toBeNull();
    for (const bad of [0, 0.01, 0.95, 1, -0.5, Number.NaN]) {
      expect(sparsityProblem(bad)).toBe(`sparsity must be between 0.05 and 0.9 (5% to 90% of the FFN channels removed), got ${bad}`);
    }
  });
  it('slider steps land on the bounds', () => {
    const steps = (SPARSITY_RANGE.max - SPARSITY_RANGE.min) / SPARSITY_RANGE.step;
    expect(Math.abs(steps - Math.round(steps))).toBeLessThan(1e-9);
  });
});
