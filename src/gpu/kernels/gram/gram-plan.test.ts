import { describe, expect, it } from 'vitest';
import { planGramPasses } from './gram-plan';

const MB = 2 ** 20;

describe('planGramPasses', () => {
  it('keeps every layer in one pass when the budget holds them all', () => {
    const plan = planGramPasses([172, 172, 172], 1 * MB);
    expect(plan.passes).toEqual([[0, 1, 2]]);
    expect(plan.totalBytes).toBe(3 * 172 * 172 * 4);
    expect(plan.message).toContain('one pass');
  });

  it('packs the SmolLM2-135M shape (30 x 1536², 9 MB each) into passes that fit 128 MB, and says what it costs', () => {
    const plan = planGramPasses(new Array(30).fill(1536), 128 * MB);
    // 14 matrices are 126 MB, 15 would be 135 MB.
    expect(plan.passes.map((p) => p.length)).toEqual([14, 14, 2]);
    expect(plan.passes.flat()).toEqual([...Array(30).keys()]);
    expect(plan.message).toBe(
      'Gram matrices for 30 layers need 270.0 MB; the 128.0 MB budget holds at most 14 layers at a time, so calibration runs 3 passes over the data instead of 1 (about 3x the time).',
    );
  });

  it('counts float64 values at 8 bytes and refuses a layer larger than the budget', () => {
    expect(planGramPasses([1000, 1000], 8e6, 8).passes).toEqual([[0], [1]]);
    expect(() => planGramPasses([4864], 64 * MB)).toThrow("layer 0's Gram matrix (4864² values) needs 90.3 MB, more than the 64.0 MB budget");
  });
});
