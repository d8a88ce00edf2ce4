import { describe, expect, it } from 'vitest';
import { klDivergence } from './reference';

describe('klDivergence (CPU reference of the KL kernel)', () => {
  it('matches hand-computed values', () => {
    // Row 0: p = (1/4, 3/4), q = (1/2, 1/2). Row 1: p = q (any shift of the logits). Row 2: masked.
    // Row 3: p = (1, 0) with the second dense logit -inf, q = (1/3, 2/3): KL = log 3.
    const dense = [0, Math.log(3), 1, 2, 100, -100, 0, -Infinity];
    const pruned = [5, 5, 11, 12, 0, 0, 0, Math.log(2)];
    const kl = klDivergence(dense, pruned, [1, 2, 0, 1], 2);
    expect(kl[0]).toBeCloseTo(0.25 * Math.log(0.25 / 0.5) + 0.75 * Math.log(0.75 / 0.5), 12);
    expect(kl[1]).toBeCloseTo(0, 12);
    expect(kl[2]).toBe(0);
    expect(kl[3]).toBeCloseTo(Math.log(3), 12);
    // Huge logits: p = (1/2, 1/2, 0), q = (1/3, 1/3, 1/3), KL = log(3/2); lse(x) − x would lose it in float64.
    expect(klDivergence([-1e30, -1e30, -2e30], [-1e30, -1e30, -1e30], [1], 3)[0]).toBeCloseTo(Math.log(1.5), 12);
  });

  it('is infinite where the pruned model gives zero probability to a possible token, and rejects short inputs', () => {
    expect(klDivergence([0, 0], [0, -Infinity], [1], 2)[0]).toBe(Infinity);
    expect(() => klDivergence([0, 0, 0], [0, 0, 0, 0], [1, 1], 2)).toThrow(/3 dense logits cannot hold 2 rows x 2/);
  });
});
